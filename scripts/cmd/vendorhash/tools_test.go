package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

const installNix = "apt-get install -y nix-bin"

// nixHashPath is Nix's own NAR hash of path (`nix hash path`), in SRI form.
func nixHashPath(t *testing.T, path string) string {
	t.Helper()
	testkit.RequireTool(t, "nix", installNix)
	cmd := exec.Command("nix", "hash", "path", path)
	cmd.Env = append(os.Environ(), "NIX_CONFIG=experimental-features = nix-command")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix hash path %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// nixHashLegacy is `nix-hash --type sha256 path` (hex), converted to SRI.
func nixHashLegacy(t *testing.T, path string) string {
	t.Helper()
	testkit.RequireTool(t, "nix-hash", installNix)
	out, err := exec.Command("nix-hash", "--type", "sha256", path).Output()
	if err != nil {
		t.Fatalf("nix-hash %s: %v", path, err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(raw)
}

// xSync is a small dependency with several packages (errgroup, semaphore,
// singleflight) that the scripts module already requires, so its go.sum
// lines and usually its download are at hand.
type xSync struct {
	version string
	goSum   string
}

func xSyncFromScriptsGoSum(t *testing.T) xSync {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dep xSync
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "golang.org/x/sync" {
			dep.version = strings.TrimSuffix(fields[1], "/go.mod")
			dep.goSum += sc.Text() + "\n"
		}
	}
	if dep.version == "" || strings.Count(dep.goSum, "\n") != 2 {
		t.Fatalf("scripts/go.sum has no complete golang.org/x/sync entry:\n%s", dep.goSum)
	}
	return dep
}

// writeModule writes a module example.com/m with the given files.
func writeModule(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (d xSync) goMod() string {
	return "module example.com/m\n\ngo 1.26.0\n\nrequire golang.org/x/sync " + d.version + "\n"
}

const importErrgroup = "package main\n\nimport _ \"golang.org/x/sync/errgroup\"\n\nfunc main() {}\n"
