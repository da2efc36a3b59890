package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// noDependencies is what vendorHash must be for a module with nothing to
// vendor: buildGoModule refuses an empty vendor directory ("please set
// 'vendorHash = null;'").
const noDependencies = "null"

// vendorHash computes the vendorHash of the Go module in dir the way
// buildGoModule's goModules derivation does: `go mod vendor` in the module
// root, then the NAR hash of vendor/. It works on a temporary copy, so the
// caller's vendor/, go.mod and go.sum are never touched. It also returns the
// Go files it left out because git does not track them: Nix builds a git
// flake from tracked files only.
func vendorHash(dir string) (hash string, untracked []string, err error) {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", nil, fmt.Errorf("%s is not a Go module root (no go.mod): %w", dir, err)
	}
	tmp, err := os.MkdirTemp("", "vendorhash-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)

	work := filepath.Join(tmp, "module")
	if untracked, err = copyModule(dir, work); err != nil {
		return "", nil, fmt.Errorf("copying the module in %s: %w", dir, err)
	}
	if slices.Contains(untracked, "go.mod") {
		return "", untracked, fmt.Errorf("%s is not tracked by git, so Nix does not see the module: git add it (with go.sum and the Go files)", filepath.Join(dir, "go.mod"))
	}
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", untracked, goModVendorError(err, out, dir)
	}
	vendor := filepath.Join(work, "vendor")
	if entries, err := os.ReadDir(vendor); errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return noDependencies, untracked, nil
	}
	hash, err = narHash(vendor)
	return hash, untracked, err
}

// goModVendorError passes on go's message with the usual cause and its fix;
// the Nix build would fail the same way.
func goModVendorError(err error, out []byte, dir string) error {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("running go mod vendor: %w (is Go installed and on PATH?)", err)
	}
	msg := strings.TrimSpace(string(out))
	hint := "Fix the error above (the Nix build would fail the same way), then run this again."
	for _, h := range hints {
		if slices.ContainsFunc(h.symptoms, func(sym string) bool { return strings.Contains(msg, sym) }) {
			hint = strings.ReplaceAll(h.fix, "DIR", dir)
			break
		}
	}
	return fmt.Errorf("go mod vendor failed for the module in %s:\n  %s\n%s", dir, strings.ReplaceAll(msg, "\n", "\n  "), hint)
}

var hints = []struct {
	fix      string
	symptoms []string
}{{
	"The module is not tidy: run `go mod tidy` in DIR, then run this again.",
	[]string{"missing go.sum entry", "no required module provides package", "updates to go.mod needed", "is not in go.mod", "inconsistent vendoring"},
}, {
	"go.mod asks for a newer Go than the local one; nixpkgs builds with GOTOOLCHAIN=local, so keep the go line <= the nixpkgs Go (1.26).",
	[]string{"requires go >=", "toolchain"},
}, {
	"A module could not be downloaded: check the versions in go.mod and that the Go module proxy (GOPROXY) is reachable.",
	[]string{"GOPROXY=off", "dial tcp", "no such host", "reading http", "unknown revision", "invalid version", "404 Not Found", "410 Gone", "verifying"},
}}

// copyModule copies what go mod vendor reads: go.mod, go.sum and the .go
// files of the module's packages, leaving out vendor/, nested modules and
// the directories the go command ignores (".*", "_*", testdata). In a git
// work tree it leaves out, and returns, the files git does not track.
func copyModule(src, dst string) (untracked []string, err error) {
	tracked, err := trackedFiles(src)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		name := d.Name()
		switch {
		case d.IsDir() && rel != "." && (rel == "vendor" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || exists(filepath.Join(path, "go.mod"))):
			return filepath.SkipDir
		case d.IsDir() || (rel != "go.mod" && rel != "go.sum" && !strings.HasSuffix(name, ".go")):
			return nil
		case tracked != nil && !tracked[filepath.ToSlash(rel)]:
			untracked = append(untracked, rel)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	return untracked, err
}

// trackedFiles is the set of files git tracks below dir (slash-separated,
// relative to dir), or nil when dir is not in a git work tree or git is not
// installed.
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
		tracked[f] = true
	}
	return tracked, nil
}

// inGitWorkTree reports whether dir is in a git work tree (false when git is
// not installed).
func inGitWorkTree(dir string) bool {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
