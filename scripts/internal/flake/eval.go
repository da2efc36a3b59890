// Package flake reads the repository's flake.lock and evaluates flake.nix:
// with real Nix where it can fetch the locked nixpkgs, otherwise offline
// against a stub nixpkgs (stub.nix).
package flake

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed stub.nix
var stubNix []byte

// ErrNoNixInstantiate is returned when nix-instantiate is not on PATH.
var ErrNoNixInstantiate = errors.New("nix-instantiate not found: install Nix (Debian/Ubuntu: apt-get install nix-bin)")

// ErrSyntax wraps an evaluation that failed because flake.nix does not
// parse: TestFlakeNixParses (and scripts/test's parse step) report that
// once, so the tests that read the flake skip (Require).
var ErrSyntax = errors.New("flake.nix does not parse")

// Require stops a test that could not read the flake: it fails on err, but
// skips where the flake does not parse (reported once by TestFlakeNixParses)
// and, outside CI, where nix-instantiate is missing.
func Require(t testing.TB, err error) {
	t.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrSyntax):
		t.Skipf("%v: TestFlakeNixParses reports it; fix flake.nix first", err)
	case errors.Is(err, ErrNoNixInstantiate) && os.Getenv("CI") != "true":
		t.Skipf("skipping: %v", err)
	default:
		t.Fatal(err)
	}
}

// Parse reports whether flake.nix in root parses, with Nix's message.
func Parse(root string) error {
	_, err := NixInstantiate("--parse", filepath.Join(root, "flake.nix"))
	if err != nil && !errors.Is(err, ErrNoNixInstantiate) {
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return err
}

// Outputs is a summary of flake.nix's outputs evaluated against the stub
// nixpkgs in stub.nix (no nixpkgs download, no build).
type Outputs struct {
	Description string                           `json:"description"`
	Inputs      map[string]Input                 `json:"inputs"`
	OutputNames []string                         `json:"outputNames"`
	Packages    map[string]map[string]Package    `json:"packages"`
	Apps        map[string]map[string]App        `json:"apps"`
	DevShells   map[string]map[string][]Tool     `json:"devShells"`
	Formatter   map[string]Formatter             `json:"formatter"`
	Templates   map[string]Template              `json:"templates"`
	Checks      map[string]map[string]CheckEntry `json:"checks"`
	// Roots are the packages that are runCommand derivations: the image
	// roots (image-root, debug-root), their spec in Env["spec"].
	Roots map[string]map[string]CheckEntry `json:"roots"`
}

// Input is a flake input as declared in flake.nix.
type Input struct {
	URL string `json:"url"`
}

// Package holds the arguments a buildGoModule call received (after
// overrideAttrs, for checks derived from the package).
type Package struct {
	Name                 string         `json:"name"`
	Pname                string         `json:"pname"`
	Version              string         `json:"version"`
	GoModules            Vendored       `json:"goModules"`
	Go                   string         `json:"go"`
	Stdenv               string         `json:"stdenv"`
	Src                  []string       `json:"src"`
	VendorHash           *string        `json:"vendorHash"`
	GoSum                *string        `json:"goSum"`
	ModRoot              string         `json:"modRoot"`
	ProxyVendor          bool           `json:"proxyVendor"`
	AllowGoReference     bool           `json:"allowGoReference"`
	SubPackages          []string       `json:"subPackages"`
	Tags                 []string       `json:"tags"`
	LDFlags              []string       `json:"ldflags"`
	Env                  map[string]any `json:"env"`
	Meta                 Meta           `json:"meta"`
	DoCheck              *bool          `json:"doCheck"`
	DontBuild            bool           `json:"dontBuild"`
	CheckPhase           *string        `json:"checkPhase"`
	InstallPhase         *string        `json:"installPhase"`
	NativeCheckInputs    []Tool         `json:"nativeCheckInputs"`
	DisallowedReferences []string       `json:"disallowedReferences"`
	Out                  string         `json:"out"`
}

// Vendored is a package's vendored-modules derivation (fixed-output: its
// store path Out depends on its name and the vendorHash only).
type Vendored struct {
	Name              string   `json:"name"`
	Out               string   `json:"out"`
	NativeBuildInputs []string `json:"nativeBuildInputs"`
}

// Tool is a package on a PATH (a dev shell's, a check's); Go is the Go that
// built it when it is a buildGoModule package.
type Tool struct {
	Name string  `json:"name"`
	Go   *string `json:"go"`
}

// Meta is the part of meta the project relies on.
type Meta struct {
	Description string `json:"description"`
	MainProgram string `json:"mainProgram"`
}

// App is an apps.<system>.<name> entry.
type App struct {
	Type    string `json:"type"`
	Program string `json:"program"`
	Meta    Meta   `json:"meta"`
}

// Formatter is formatter.<system>: what `nix fmt` runs.
type Formatter struct {
	Name        string `json:"name"`
	MainProgram string `json:"mainProgram"`
}

// Template is a templates.<name> entry (`nix flake init -t`).
type Template struct {
	Path        string `json:"path"`
	Description string `json:"description"`
}

// CheckEntry is a checks.<system>.<name> entry: a buildGoModule derivation
// (Kind "buildGoModule", the Package fields are set) or a runCommand (Kind
// "runCommand": Name, Script, NativeBuildInputs and Env, its other
// environment attributes).
type CheckEntry struct {
	Kind string `json:"kind"`
	Package
	Script            string `json:"script"`
	NativeBuildInputs []Tool `json:"nativeBuildInputs"`
}

// Evaluate evaluates flake.nix in root against the stub nixpkgs, with
// self.shortRev = rev (no revision when rev is empty, as for a dirty tree
// without dirtyShortRev). Like Nix with a git flake, it sees only the files
// git tracks (with their working-tree content); outside git, every file.
func Evaluate(root, rev string) (*Outputs, error) {
	out, err := evalSummary(root, rev, "")
	if err != nil {
		return nil, err
	}
	var outputs Outputs
	if err := json.Unmarshal(out, &outputs); err != nil {
		return nil, fmt.Errorf("reading the flake summary: %w", err)
	}
	return &outputs, nil
}

// EvaluatePackages evaluates only the packages output of flake.nix in root,
// as `nix build .#default` does: the other outputs (checks, dev shell) stay
// unevaluated, so files only they read may be absent, as in the Docker build
// context.
func EvaluatePackages(root string) (map[string]map[string]Package, error) {
	out, err := evalSummary(root, "", "packages")
	if err != nil {
		return nil, err
	}
	var packages map[string]map[string]Package
	if err := json.Unmarshal(out, &packages); err != nil {
		return nil, fmt.Errorf("reading the flake's packages: %w", err)
	}
	return packages, nil
}

// evalSummary returns the JSON summary of the flake in root (attr "" for all
// of it, or one attribute of the summary such as "packages").
func evalSummary(root, rev, attr string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "flake-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "flake")
	if err := CopyFlakeSource(root, src); err != nil {
		return nil, fmt.Errorf("copying the flake source from %s: %w", root, err)
	}
	stub := filepath.Join(tmp, "stub.nix")
	if err := os.WriteFile(stub, stubNix, 0o644); err != nil {
		return nil, err
	}
	args := []string{"--eval", "--strict", "--json", stub, "--argstr", "flakeDir", src}
	if rev != "" {
		args = append(args, "--argstr", "rev", rev)
	}
	if attr != "" {
		args = append(args, "-A", attr)
	}
	out, err := NixInstantiate(args...)
	if err != nil && !errors.Is(err, ErrNoNixInstantiate) {
		if perr := Parse(root); errors.Is(perr, ErrSyntax) {
			return nil, perr
		}
	}
	if err != nil && strings.Contains(err.Error(), "' missing") {
		err = fmt.Errorf("%w\n(evaluated against the stub nixpkgs, scripts/internal/flake/stub.nix: if the flake is right, that stub lacks this attribute; add it there as nixpkgs defines it, or run where real Nix can fetch nixpkgs)", err)
	}
	return out, err
}

// PackageAttrs returns the buildGoModule arguments of packages.default for
// x86_64-linux, evaluated with self.shortRev = rev. Where RealNix says real
// Nix can evaluate the flake it does (rev must then be "": the version is
// what Nix gives the checkout); otherwise the stub nixpkgs stands in.
func PackageAttrs(root, rev string) (*Package, error) {
	if ok, _ := RealNix(root); ok && rev == "" {
		return realPackageAttrs(root)
	}
	outputs, err := Evaluate(root, rev)
	if err != nil {
		return nil, err
	}
	pkg, ok := outputs.Packages["x86_64-linux"]["default"]
	if !ok {
		return nil, errors.New("flake.nix has no packages.x86_64-linux.default")
	}
	return &pkg, nil
}

// NixInstantiate runs nix-instantiate with args and returns its stdout; the
// error carries stderr (Nix's message).
func NixInstantiate(args ...string) ([]byte, error) {
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		return nil, ErrNoNixInstantiate
	}
	cmd := exec.Command("nix-instantiate", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nix-instantiate %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// CopyFlakeSource copies the files of the flake in root that Nix sees (the
// git-tracked ones, outside git every file) to dst.
func CopyFlakeSource(root, dst string) error {
	files, err := gitTracked(root)
	if err != nil {
		files, err = allFiles(root)
		if err != nil {
			return err
		}
	}
	for _, rel := range files {
		from := filepath.Join(root, rel)
		info, err := os.Lstat(from)
		if errors.Is(err, os.ErrNotExist) {
			continue // tracked but deleted in the working tree
		}
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
			continue
		}
		if !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func gitTracked(root string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		return nil, err
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, filepath.FromSlash(f))
		}
	}
	return files, nil
}

func allFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	})
	return files, err
}
