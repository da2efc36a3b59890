package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

const staleHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// writeDepModule writes a module that depends on golang.org/x/sync and
// returns its directory and its vendorHash.
func writeDepModule(t *testing.T) (string, string) {
	t.Helper()
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{"go.mod": dep.goMod(), "go.sum": dep.goSum, "main.go": importErrgroup})
	hash, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, hash
}

func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := exitCode(run(args, &stdout, &stderr), &stderr)
	return code, stdout.String(), stderr.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestPrintsTheHashAsTheOnlyLine(t *testing.T) {
	dir, want := writeDepModule(t)
	if code, stdout, stderr := runTool(t, dir); code != 0 || stdout != want+"\n" {
		t.Errorf("exit %d, stdout %q (stderr %q); want 0 and %q", code, stdout, stderr, want+"\n")
	}
	noDeps := t.TempDir()
	writeModule(t, noDeps, map[string]string{"go.mod": "module example.com/svc\n\ngo 1.25.0\n", "main.go": "package main\n\nfunc main() {}\n"})
	code, stdout, stderr := runTool(t, noDeps)
	if code != 0 || stdout != "null\n" || !strings.Contains(stderr, "vendorHash = null") {
		t.Errorf("module without dependencies: exit %d, stdout %q, stderr %q; want null and an explanation", code, stdout, stderr)
	}
	code, _, stderr = runTool(t, "--write", noDeps)
	if code != 2 || !strings.Contains(stderr, "vendorHash = null") {
		t.Errorf("--write on a module without dependencies: exit %d, stderr %q; want 2 and vendorHash = null", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(noDeps, sriFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--write on a module without dependencies wrote %s", sriFile)
	}
}

func TestCheckThenWriteThenCheck(t *testing.T) {
	dir, want := writeDepModule(t)
	path := filepath.Join(dir, sriFile)

	code, _, stderr := runTool(t, "--check", dir)
	if code != 2 || !strings.Contains(stderr, "missing") || !strings.Contains(stderr, "scripts/vendorhash --write") {
		t.Errorf("--check without %s: exit %d, stderr %q; want 2, missing and the fix", sriFile, code, stderr)
	}
	if code, stdout, stderr := runTool(t, "--write", dir); code != 0 {
		t.Fatalf("--write: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := readFile(t, path); got != want+"\n" {
		t.Errorf("%s after --write = %q, want the hash and a newline %q", sriFile, got, want+"\n")
	}
	if code, stdout, stderr := runTool(t, "--check", dir); code != 0 {
		t.Errorf("--check after --write: exit %d\n%s%s", code, stdout, stderr)
	}

	if err := os.WriteFile(path, []byte(staleHash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runTool(t, "--check", dir)
	if code != 1 || !strings.Contains(stdout, "should be "+want) || !strings.Contains(stderr, "scripts/vendorhash --write") {
		t.Errorf("--check on a stale hash: exit %d\n%s%s\nwant 1, the right value and the fix", code, stdout, stderr)
	}
	if got := readFile(t, path); got != staleHash+"\n" {
		t.Errorf("--check changed %s to %q", sriFile, got)
	}
	if code, stdout, stderr := runTool(t, "--write", dir); code != 0 || readFile(t, path) != want+"\n" {
		t.Errorf("--write on a stale hash: exit %d, %s = %q\n%s%s", code, sriFile, readFile(t, path), stdout, stderr)
	}
}

// lib.fileContents drops one trailing newline and nothing else, so anything
// but the hash on one line breaks the Nix build: --check says so and how to
// fix it, and --write repairs it.
func TestMalformedSRIIsNamed(t *testing.T) {
	dir, want := writeDepModule(t)
	path := filepath.Join(dir, sriFile)
	for name, content := range map[string]string{
		"CRLF":              want + "\r\n",
		"two lines":         want + "\n" + want + "\n",
		"leading space":     " " + want + "\n",
		"quoted":            `"` + want + `"` + "\n",
		"null":              "null\n",
		"empty":             "",
		"not base64":        "sha256-" + strings.Repeat("!", 43) + "=\n",
		"too short":         want[:20] + "\n",
		"a Nix binding":     "vendorHash = \"" + want + "\";\n",
		"another algorithm": "sha512-" + strings.TrimPrefix(want, "sha256-") + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runTool(t, "--check", dir)
			if code != 2 || !strings.Contains(stderr, "malformed") || !strings.Contains(stderr, "scripts/vendorhash --write") {
				t.Errorf("--check on %q: exit %d, stderr %q; want 2, malformed and the fix", content, code, stderr)
			}
			if code, _, stderr := runTool(t, "--write", dir); code != 0 || readFile(t, path) != want+"\n" {
				t.Errorf("--write on %q: exit %d, stderr %q, file %q", content, code, stderr, readFile(t, path))
			}
		})
	}
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runTool(t, "--check", dir); code != 0 {
		t.Errorf("--check on the hash without a newline (lib.fileContents reads it the same): exit %d, %s", code, stderr)
	}
}

func TestCheckReportsAFailingModule(t *testing.T) {
	dir, _ := writeDepModule(t)
	if err := os.Remove(filepath.Join(dir, "go.sum")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"--check", "--write"} {
		if code, _, stderr := runTool(t, mode, dir); code != 2 || !strings.Contains(stderr, "go mod tidy") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and the go mod tidy hint", mode, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, sriFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--write wrote %s although the hash could not be computed", sriFile)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--check", "--write"}, {"a", "b"}} {
		if code, _, stderr := runTool(t, args...); code != 2 || !strings.Contains(stderr, "usage: scripts/vendorhash") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and the usage", args, code, stderr)
		}
	}
	code, _, stderr := runTool(t, "-h")
	if code != 0 || !strings.Contains(stderr, "Exit status:") {
		t.Errorf("-h: exit %d, want 0 and the documented exit codes", code)
	}
	code, _, stderr = runTool(t, "--check", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "no go.mod") {
		t.Errorf("--check outside a module: exit %d, stderr %q", code, stderr)
	}
}

// The wrapper resolves a relative DIR against the caller's directory and
// keeps the exit status (go run would turn 2 into 1).
func TestWrapper(t *testing.T) {
	testkit.RequireTool(t, "bash", "apt-get install -y bash")
	wrapper, err := filepath.Abs(filepath.Join("..", "..", "vendorhash"))
	if err != nil {
		t.Fatal(err)
	}
	dir, want := writeDepModule(t)
	if err := os.WriteFile(filepath.Join(dir, sriFile), []byte(staleHash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args     []string
		code     int
		stdout   string
		contains string
	}{
		{args: []string{"."}, code: 0, stdout: want + "\n"},
		{args: []string{"--check", "."}, code: 1, contains: "should be " + want},
		{args: []string{"--bogus"}, code: 2},
	}
	for _, c := range cases {
		cmd := exec.Command(wrapper, c.args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || (c.stdout != "" && stdout.String() != c.stdout) || !strings.Contains(stdout.String(), c.contains) {
			t.Errorf("scripts/vendorhash %v: exit %d, stdout %q, stderr %q; want exit %d", c.args, code, stdout.String(), stderr.String(), c.code)
		}
	}
}
