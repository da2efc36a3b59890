package flake

import (
	"os"
	"os/exec"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/repo"
)

// requireTool skips the test when name is not on PATH, or fails it under CI.
func requireTool(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %s", name, install)
	}
	t.Skipf("%s not on PATH (%s); skipping", name, install)
}

const installNix = "apt-get install -y nix-bin"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// evaluate evaluates the repository's flake against the stub nixpkgs.
func evaluate(t *testing.T, rev string) *Outputs {
	t.Helper()
	requireTool(t, "nix-instantiate", installNix)
	outputs, err := Evaluate(repoRoot(t), rev)
	if err != nil {
		t.Fatal(err)
	}
	return outputs
}
