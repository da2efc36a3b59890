package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"scripts/internal/testkit"
)

// TestActionlint runs the pinned actionlint (a tool of the scripts module)
// on every workflow. actionlint also runs shellcheck on run: scripts when
// shellcheck is on PATH.
func TestActionlint(t *testing.T) {
	if os.Getenv("SCRIPTS_TEST_SKIP_FLAKE_CHECKS") == "1" {
		t.Skip("scripts/test --skip-flake-checks: nix flake check's checks.actionlint ran actionlint (with shellcheck) on these workflows")
	}
	root := testkit.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found (%v)", err)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is not on PATH, so actionlint cannot check run: scripts; install it (apt-get install shellcheck)")
		}
		t.Log("shellcheck is not on PATH: actionlint checks the workflows without checking run: scripts (apt-get install shellcheck)")
	}
	cmd := exec.Command("go", append([]string{"tool", "actionlint", "-no-color"}, files...)...)
	cmd.Dir = filepath.Join(root, "scripts")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint found problems (%v):\n%s", err, out)
	}
}
