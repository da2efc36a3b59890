package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// noDependencies is what vendorHash must be for a module with nothing to
// vendor: buildGoModule refuses an empty vendor directory ("please set
// 'vendorHash = null;'").
const noDependencies = "null"

// vendorHash computes the vendorHash of the Go module in dir the way
// buildGoModule's goModules derivation does: `go mod vendor` in the module
// root, then the NAR hash of vendor/. It works on a temporary copy, so the
// caller's vendor/, go.mod and go.sum are never touched. It returns
// noDependencies when go mod vendor has nothing to write.
func vendorHash(dir string) (string, error) {
	hash, _, err := vendorHashOf(dir)
	return hash, err
}

// vendorHashOf is vendorHash that also returns the Go files it left out
// because git does not track them: Nix builds a git flake from tracked files
// only, so an untracked file must not change the hash.
func vendorHashOf(dir string) (hash string, untracked []string, err error) {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", nil, fmt.Errorf("%s is not a Go module root (no go.mod): %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "vendorhash-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)

	work := filepath.Join(tmp, "module")
	untracked, err = copyModule(dir, work)
	if err != nil {
		return "", nil, fmt.Errorf("copying the module in %s: %w", dir, err)
	}
	if err := goModVendor(work, dir); err != nil {
		return "", untracked, err
	}
	vendor := filepath.Join(work, "vendor")
	entries, err := os.ReadDir(vendor)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return noDependencies, untracked, nil
	}
	if err != nil {
		return "", untracked, err
	}
	hash, err = narHash(vendor)
	return hash, untracked, err
}

// goModVendor runs go mod vendor in work with the environment of a faithful
// run: the local Go only, no workspace, modules resolved from go.mod.
func goModVendor(work, userDir string) error {
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(string(out))
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("running go mod vendor: %w (is Go installed and on PATH?)", err)
	}
	return fmt.Errorf("go mod vendor failed for the module in %s:\n%s\n%s", userDir, indent(msg), hint(msg, userDir))
}

// hint explains the usual causes of a go mod vendor failure; the Nix build
// would fail the same way.
func hint(msg, dir string) string {
	switch {
	case strings.Contains(msg, "missing go.sum entry"),
		strings.Contains(msg, "no required module provides package"),
		strings.Contains(msg, "updates to go.mod needed"),
		strings.Contains(msg, "is not in go.mod"),
		strings.Contains(msg, "inconsistent vendoring"):
		return fmt.Sprintf("The module is not tidy: run `go mod tidy` in %s, then run this again.", dir)
	case strings.Contains(msg, "requires go >="), strings.Contains(msg, "toolchain"):
		return "go.mod asks for a newer Go than the local one; nixpkgs builds with GOTOOLCHAIN=local, so keep the go line <= the nixpkgs Go (1.26)."
	case strings.Contains(msg, "GOPROXY=off"),
		strings.Contains(msg, "dial tcp"),
		strings.Contains(msg, "no such host"),
		strings.Contains(msg, "reading http"),
		strings.Contains(msg, "unknown revision"),
		strings.Contains(msg, "invalid version"),
		strings.Contains(msg, "404 Not Found"),
		strings.Contains(msg, "410 Gone"),
		strings.Contains(msg, "verifying"):
		return "A module could not be downloaded: check the versions in go.mod and that the Go module proxy (GOPROXY) is reachable."
	default:
		return "Fix the error above (the Nix build would fail the same way), then run this again."
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// copyModule copies what go mod vendor reads: go.mod, go.sum and the .go
// files of the module's packages. It leaves out the module's own vendor/,
// nested modules (directories with their own go.mod), directories the go
// command ignores (names starting with "." or "_", and testdata), and, in a
// git work tree, files git does not track (returned, for a warning).
func copyModule(src, dst string) (untracked []string, err error) {
	tracked, err := trackedFiles(src)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel != "." && skipDir(rel, d.Name(), path) {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel != "go.mod" && rel != "go.sum" && !strings.HasSuffix(d.Name(), ".go") {
			return nil
		}
		if tracked != nil && !tracked[filepath.ToSlash(rel)] {
			untracked = append(untracked, rel)
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
	return untracked, err
}

// trackedFiles is the set of files git tracks below dir (slash-separated,
// relative to dir), or nil when dir is not inside a git work tree.
func trackedFiles(dir string) (map[string]bool, error) {
	if !inGitWorkTree(dir) {
		return nil, nil
	}
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the files git tracks in %s: %w", dir, err)
	}
	tracked := map[string]bool{}
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			tracked[f] = true
		}
	}
	return tracked, nil
}

// inGitWorkTree reports whether dir is inside a git work tree (false when
// git is not installed).
func inGitWorkTree(dir string) bool {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

func skipDir(rel, name, path string) bool {
	if rel == "vendor" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
