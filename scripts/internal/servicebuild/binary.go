package servicebuild

import (
	"sync"
	"testing"

	"scripts/internal/testkit"
)

var built struct {
	mu   sync.Mutex
	bins map[string]string // rev → binary
}

// Binary builds the service once per revision per test binary, as
// flake.nix builds it at that revision, and returns the binary's path; the
// package's TestMain must call testkit.Main, which removes it. It needs
// nix-instantiate to read flake.nix (testkit.RequireTool).
func Binary(t testing.TB, rev string) string {
	t.Helper()
	testkit.RequireTool(t, "nix-instantiate", "install Nix (Debian/Ubuntu: apt-get install nix-bin)")
	built.mu.Lock()
	defer built.mu.Unlock()
	if bin, ok := built.bins[rev]; ok {
		return bin
	}
	bin, err := Build(testkit.RepoRoot(t), testkit.ScratchDir(t, "service-"+rev), rev)
	if err != nil {
		t.Fatal(err)
	}
	if built.bins == nil {
		built.bins = map[string]string{}
	}
	built.bins[rev] = bin
	return bin
}
