package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

const staleHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// twoModuleFlake has a service at the root (no dependencies) and a tool in
// tools/ that depends on golang.org/x/sync.
func twoModuleFlake(rootHash, toolHash string) string {
	return `{
  outputs = { self, nixpkgs }: {
    # the root module has no dependencies
    packages.x86_64-linux.default = nixpkgs.legacyPackages.x86_64-linux.buildGoModule {
      pname = "svc";
      version = "1";
      src = ./.;
      vendorHash = ` + rootHash + `;
    };
    packages.x86_64-linux.tool = nixpkgs.legacyPackages.x86_64-linux.buildGoModule {
      pname = "tool";
      version = "1";
      src = ./.;
      modRoot = "tools";
      vendorHash = ` + toolHash + `;
    };
  };
}
`
}

func writeTwoModuleFlake(t *testing.T, rootHash, toolHash string) string {
	t.Helper()
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{
		"flake.nix":     twoModuleFlake(rootHash, toolHash),
		"go.mod":        "module example.com/svc\n\ngo 1.25.0\n",
		"main.go":       "package main\n\nfunc main() {}\n",
		"tools/go.mod":  dep.goMod(),
		"tools/go.sum":  dep.goSum,
		"tools/main.go": importErrgroup,
	})
	return dir
}

func runTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestPrintsTheHashAsTheOnlyLine(t *testing.T) {
	dir := writeTwoModuleFlake(t, "null", "null")
	want, err := vendorHash(filepath.Join(dir, "tools"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runTool(t, filepath.Join(dir, "tools"))
	if code != 0 || stdout != want+"\n" {
		t.Errorf("exit %d, stdout %q (stderr %q); want 0 and %q", code, stdout, stderr, want+"\n")
	}
	code, stdout, stderr = runTool(t, dir)
	if code != 0 || stdout != "null\n" || !strings.Contains(stderr, "vendorHash = null") {
		t.Errorf("module without dependencies: exit %d, stdout %q, stderr %q; want null and an explanation", code, stdout, stderr)
	}
}

func TestCheckThenWriteThenCheck(t *testing.T) {
	dir := writeTwoModuleFlake(t, `"`+staleHash+`"`, `"`+staleHash+`"`)
	toolHash, err := vendorHash(filepath.Join(dir, "tools"))
	if err != nil {
		t.Fatal(err)
	}
	flakePath := filepath.Join(dir, "flake.nix")

	code, stdout, stderr := runTool(t, "--check", dir)
	if code != 1 {
		t.Fatalf("--check on stale hashes: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"should be null", "should be " + toolHash} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--check output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "scripts/vendorhash --write") {
		t.Errorf("--check should name the fix:\n%s", stderr)
	}

	if code, stdout, stderr := runTool(t, "--write", dir); code != 0 {
		t.Fatalf("--write: exit %d\n%s%s", code, stdout, stderr)
	}
	got, err := os.ReadFile(flakePath)
	if err != nil {
		t.Fatal(err)
	}
	if want := twoModuleFlake("null", `"`+toolHash+`"`); string(got) != want {
		t.Errorf("flake.nix after --write:\n%s\nwant:\n%s", got, want)
	}

	code, stdout, stderr = runTool(t, "--check", dir)
	if code != 0 || strings.Count(stdout, "ok ") != 2 {
		t.Errorf("--check after --write: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestCheckRefusesProxyVendor(t *testing.T) {
	dir := writeTwoModuleFlake(t, "null", `"`+staleHash+`"`)
	flakePath := filepath.Join(dir, "flake.nix")
	src, err := os.ReadFile(flakePath)
	if err != nil {
		t.Fatal(err)
	}
	withProxy := strings.Replace(string(src), `modRoot = "tools";`, `modRoot = "tools";`+"\n      proxyVendor = true;", 1)
	if err := os.WriteFile(flakePath, []byte(withProxy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"--check", "--write"} {
		code, _, stderr := runTool(t, mode, dir)
		if code != 2 || !strings.Contains(stderr, "proxyVendor = true") {
			t.Errorf("%s with proxyVendor = true: exit %d, stderr %q; want 2 and a refusal", mode, code, stderr)
		}
	}
	after, err := os.ReadFile(flakePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != withProxy {
		t.Error("--write changed flake.nix although it refused")
	}
}

func TestCheckReportsAFailingModule(t *testing.T) {
	dir := writeTwoModuleFlake(t, "null", `"`+staleHash+`"`)
	if err := os.Remove(filepath.Join(dir, "tools", "go.sum")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTool(t, "--check", dir)
	if code != 2 || !strings.Contains(stderr, "go mod tidy") {
		t.Errorf("exit %d, stderr %q; want 2 and the go mod tidy hint", code, stderr)
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
	if code != 2 || !strings.Contains(stderr, "flake.nix") {
		t.Errorf("--check without flake.nix: exit %d, stderr %q", code, stderr)
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
	dir := writeTwoModuleFlake(t, "null", `"`+staleHash+`"`)
	want, err := vendorHash(filepath.Join(dir, "tools"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args     []string
		code     int
		stdout   string
		contains string
	}{
		{args: []string{"tools"}, code: 0, stdout: want + "\n"},
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
