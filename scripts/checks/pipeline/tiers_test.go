package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// CI runs the full tier (scripts/test --all): the tests of the machinery
// that the default tier leaves out run on every pull request and push.
func TestCIRunsTheFullTier(t *testing.T) {
	step := checksStep(t, "runs scripts/test", runs("scripts/test"))
	if !regexp.MustCompile(`scripts/test\b.*\s--all\b`).MatchString(step.str("run")) {
		t.Errorf("ci.yml: the scripts/test step must run the full tier (scripts/test --all ...), runs %q", step.str("run"))
	}
	b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*scripts/test\b.*\s--all\b`).Match(b) {
		t.Error(".ci/run must run the full tier: scripts/test --all --report reports")
	}
}

// scripts/test --help documents the full tier's flag.
func TestScriptsTestHelpNamesTheFullTier(t *testing.T) {
	out, err := exec.Command(filepath.Join(testkit.RepoRoot(t), "scripts", "test"), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/test --help: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--all") {
		t.Errorf("scripts/test --help does not name --all, the full tier's flag:\n%s", out)
	}
}
