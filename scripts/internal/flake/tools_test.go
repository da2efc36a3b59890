package flake

import (
	"testing"

	"scripts/internal/testkit"
)

const installNix = "apt-get install -y nix-bin"

// evaluate evaluates the repository's flake against the stub nixpkgs. Where
// real Nix can evaluate the flake, the tests in realnix_test.go check it
// instead and the stand-in steps aside.
func evaluate(t *testing.T, rev string) *Outputs {
	t.Helper()
	if ok, _ := RealNix(testkit.RepoRoot(t)); ok {
		t.Skip("real Nix evaluates the flake here (realnix_test.go); the stub nixpkgs is for machines without it")
	}
	testkit.RequireTool(t, "nix-instantiate", installNix)
	outputs, err := Evaluate(testkit.RepoRoot(t), rev)
	Require(t, err)
	return outputs
}
