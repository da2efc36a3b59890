package image

import (
	"errors"
	"os"
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
	context, err := dockerContext(testkit.RepoRoot(t), ignore, buildKitContext)
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
