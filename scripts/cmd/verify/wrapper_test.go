package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

func wrapperPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "verify"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWrapperWithoutGoSaysSoAndExits2(t *testing.T) {
	testkit.FullTier(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash not found: %v", err)
	}
	// A PATH holding only bash (for the #! line): no go.
	onlyBash := t.TempDir()
	if err := os.Symlink(bash, filepath.Join(onlyBash, "bash")); err != nil {
		t.Fatal(err)
	}
	cmd := execCommand(wrapperPath(t), "--url", "http://127.0.0.1:1", "--expect-release", "x")
	cmd.Env = []string{"PATH=" + onlyBash}
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitUsage {
		t.Errorf("exit %d (%v), want %d\n%s", code, err, exitUsage, out)
	}
	if !strings.Contains(string(out), "scripts/verify: go is not on PATH") {
		t.Errorf("output does not say go is missing:\n%s", out)
	}
}

func TestWrapperBuildsOnceIntoTheBinDirAndReusesIt(t *testing.T) {
	testkit.FullTier(t)
	binDir := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := execCommand(wrapperPath(t), args...)
		cmd.Env = append(os.Environ(), "VERIFY_BIN_DIR="+binDir)
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	if out, code := run("--bogus"); code != exitUsage || !strings.Contains(out, "flag provided but not defined: -bogus") {
		t.Fatalf("first call: exit %d, want %d from the built tool:\n%s", code, exitUsage, out)
	}
	bin := filepath.Join(binDir, "verify")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the tool was not built into VERIFY_BIN_DIR: %v", err)
	}
	// Replace the built tool: a second call must run it, not rebuild.
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho reused \"$@\"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, code := run("--url", "http://h", "--expect-release", "x")
	if code != exitFail || !strings.Contains(out, "reused --url http://h --expect-release x") {
		t.Errorf("second call: exit %d, output %q; want the binary already in the bin dir to run with the arguments and its exit 1 kept", code, out)
	}
}

func TestWrapperRejectsAMissingBinDir(t *testing.T) {
	testkit.FullTier(t)
	cmd := execCommand(wrapperPath(t), "-h")
	cmd.Env = append(os.Environ(), "VERIFY_BIN_DIR="+filepath.Join(t.TempDir(), "absent"))
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != exitUsage || !strings.Contains(string(out), "is not a directory") {
		t.Errorf("exit %d, want %d naming the bad directory:\n%s", code, exitUsage, out)
	}
}
