package pipeline

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

// TestWhatSkipFlakeChecksSkipsTheFlakeRuns: each step scripts/test
// --skip-flake-checks leaves out names the flake check that runs it instead
// (ran_by_flake CHECK ...); that check must exist, or CI would run the step
// nowhere.
func TestWhatSkipFlakeChecksSkipsTheFlakeRuns(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", "apt-get install nix-bin (or install Nix)")
	root := testkit.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "scripts", "test"))
	if err != nil {
		t.Fatal(err)
	}
	skips := regexp.MustCompile(`(?m)^\s*ran_by_flake ([A-Za-z0-9_-]+) "([^"]+)"`).FindAllStringSubmatch(string(b), -1)
	if len(skips) == 0 {
		t.Fatal("scripts/test skips nothing with --skip-flake-checks (no ran_by_flake lines): the flake's checks would run twice in CI")
	}
	outputs, err := flake.Evaluate(root, "")
	flake.Require(t, err)
	if len(outputs.Checks) == 0 {
		t.Fatal("flake.nix has no checks for any system")
	}
	for system, checks := range outputs.Checks {
		pkg := outputs.Packages[system]["default"]
		for _, s := range skips {
			check, step := s[1], s[2]
			if check == "package" {
				found := false
				for _, c := range checks {
					found = found || (pkg.Out != "" && c.Out == pkg.Out)
				}
				if !found {
					t.Errorf("scripts/test skips %q as the package build's, but checks.%s has no check that builds packages.%s.default", step, system, system)
				}
				continue
			}
			if _, ok := checks[check]; !ok {
				t.Errorf("scripts/test skips %q as checks.%s's, but flake.nix has no checks.%s.%s: CI would run it nowhere", step, check, system, check)
			}
		}
	}
}
