package image

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/flake"
	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// flakePackage is packages.x86_64-linux.default of flake.nix, evaluated
// offline against scripts/internal/flake's stub nixpkgs.
func flakePackage(t *testing.T) *flake.Package {
	t.Helper()
	pkg, err := flake.PackageAttrs(testkit.RepoRoot(t), "")
	if errors.Is(err, flake.ErrNoNixInstantiate) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true makes this an error)", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

func TestDockerContextHoldsTheFlakeSource(t *testing.T) {
	pkg := flakePackage(t)
	ignore, err := os.Open(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer ignore.Close()
	context, err := dockerContext(testkit.RepoRoot(t), ignore)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Src) == 0 {
		t.Fatal("the flake's package has an empty src")
	}
	for _, f := range pkg.Src {
		if _, ok := context[f]; !ok {
			t.Errorf("%s is in the flake's src but .dockerignore leaves it out of the Docker context; re-include it with a ! line", f)
		}
	}
}

// The Dockerfile runs `nix build .#default` on the Docker build context
// alone (no .git, no scripts/, no .github/): the package must evaluate from
// exactly those files, with the same source as from the repository.
func TestFlakePackageEvaluatesFromTheDockerContext(t *testing.T) {
	pkg := flakePackage(t)
	root := testkit.RepoRoot(t)
	ignore, err := os.Open(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer ignore.Close()
	context, err := dockerContext(root, ignore)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for rel := range context {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packages, err := flake.EvaluatePackages(dir)
	if err != nil {
		t.Fatalf("packages do not evaluate from the Docker build context (what nix build sees on Fly's builder): %v", err)
	}
	inContext, ok := packages["x86_64-linux"]["default"]
	if !ok {
		t.Fatal("no packages.x86_64-linux.default when evaluated from the Docker build context")
	}
	if !slices.Equal(inContext.Src, pkg.Src) {
		t.Errorf("the package's src differs in the Docker context:\n context: %v\n repository: %v", inContext.Src, pkg.Src)
	}
	if inContext.Version != "dev" {
		t.Errorf("version in the Docker context = %q, want the fallback \"dev\" (no .git there)", inContext.Version)
	}
}

// The Dockerfile's toolchain layer runs on its COPY's files alone. It must
// evaluate there, and realise what the package build needs that does not
// depend on the Go sources: the package's Go, stdenv and the vendored
// modules' build tools (buildGoModule's own inputs; names are nixpkgs
// attributes, as the stub nixpkgs gives them). What it leaves out the next
// step fetches, so a gap is slower, never wrong, but still reported.
func TestToolchainLayerRealisesTheBuildsToolchain(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", "apt-get install -y nix-bin")
	step, problem := findToolchainStep(mustDockerfile(t).stages[0])
	if problem != "" {
		t.Fatal(problem)
	}
	dir := t.TempDir()
	for _, f := range step.Files {
		data, err := os.ReadFile(repoFile(t, f))
		if err != nil {
			t.Fatalf("the toolchain layer copies %s: %v", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packages, err := flake.EvaluatePackages(dir)
	if err != nil {
		t.Fatalf("the package does not evaluate from the toolchain layer's files %v: %v", step.Files, err)
	}
	pkg := packages["x86_64-linux"]["default"]
	for _, gap := range toolchainGaps(step.Installables, pkg) {
		t.Errorf("the toolchain layer (%v) does not realise %s, which the package build needs before any Go source: add nixpkgs#%s or .#default.<attribute>", step.Installables, gap, gap)
	}
	if gaps := toolchainGaps([]string{".#default.go"}, pkg); !slices.Contains(gaps, pkg.Stdenv) || slices.Contains(gaps, pkg.Go) {
		t.Errorf("a toolchain layer of the package's Go alone: gaps %v, want %s and not %s", gaps, pkg.Stdenv, pkg.Go)
	}
	t.Logf("toolchain layer, from %v: realises %v", step.Files, step.Installables)
	t.Logf("source layer: builds the source, %s (go mod vendor) and %s", pkg.GoModules.Name, pkg.Name)
}

// toolchainGaps returns what pkg's build needs before any Go source (its
// Go, stdenv and the vendored modules' build tools) that the installables
// (.#default.<attribute> or nixpkgs#<attribute>) do not realise.
func toolchainGaps(installables []string, pkg flake.Package) (gaps []string) {
	realised := map[string]bool{}
	for _, i := range installables {
		switch {
		case i == ".#default.go":
			realised[pkg.Go] = true
		case i == ".#default.stdenv":
			realised[pkg.Stdenv] = true
		case strings.HasPrefix(i, "nixpkgs#"):
			realised[strings.TrimPrefix(i, "nixpkgs#")] = true
		}
	}
	for _, n := range append([]string{pkg.Go, pkg.Stdenv}, pkg.GoModules.NativeBuildInputs...) {
		if !realised[n] && !slices.Contains(gaps, n) {
			gaps = append(gaps, n)
		}
	}
	return gaps
}
