package flake

import (
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

const installNix = "apt-get install -y nix-bin"

// evaluate evaluates the repository's flake against the stub nixpkgs.
func evaluate(t *testing.T, rev string) *Outputs {
	t.Helper()
	testkit.RequireTool(t, "nix-instantiate", installNix)
	outputs, err := Evaluate(testkit.RepoRoot(t), rev)
	if err != nil {
		t.Fatal(err)
	}
	return outputs
}
