package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// goModVendorHash runs a plain `go mod vendor` in a copy of dir and returns
// Nix's hash of the vendor directory it wrote: the reference value.
func goModVendorHash(t *testing.T, dir string) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(work, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	return nixHashPath(t, filepath.Join(work, "vendor"))
}

func TestVendorHashMatchesNixOnGoModVendor(t *testing.T) {
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{"go.mod": dep.goMod(), "go.sum": dep.goSum, "main.go": importErrgroup})
	got, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := goModVendorHash(t, dir); got != want {
		t.Errorf("vendorHash = %s, nix hash path of go mod vendor's output = %s", got, want)
	}
}

// A new import of a package not yet vendored changes vendor/ and so the
// hash, with go.mod and go.sum untouched.
func TestNewImportChangesTheHash(t *testing.T) {
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{"go.mod": dep.goMod(), "go.sum": dep.goSum, "main.go": importErrgroup})
	before, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	modBefore := fingerprint(t, dir, "go.mod", "go.sum")
	writeModule(t, dir, map[string]string{
		"internal/limit/limit.go": "package limit\n\nimport _ \"golang.org/x/sync/semaphore\"\n",
	})
	after, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Fatalf("importing golang.org/x/sync/semaphore left the hash at %s", before)
	}
	if fingerprint(t, dir, "go.mod", "go.sum") != modBefore {
		t.Fatal("go.mod or go.sum changed; the test needs them untouched")
	}
	if want := goModVendorHash(t, dir); after != want {
		t.Errorf("after the new import: vendorHash = %s, nix hash path = %s", after, want)
	}
}

// The user's vendor/, go.mod and go.sum are never touched, and a stale
// vendor/ in the module does not leak into the result.
func TestUserModuleIsLeftAlone(t *testing.T) {
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{"go.mod": dep.goMod(), "go.sum": dep.goSum, "main.go": importErrgroup})
	clean, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeModule(t, dir, map[string]string{
		"vendor/modules.txt":                  "# stale\n",
		"vendor/golang.org/x/sync/errgroup/x": "stale",
	})
	before := treeFingerprint(t, dir)
	got, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != clean {
		t.Errorf("with a stale vendor/ present: %s, without: %s", got, clean)
	}
	if after := treeFingerprint(t, dir); after != before {
		t.Errorf("vendorHash changed the module directory:\nbefore %s\nafter  %s", before, after)
	}
}

func TestModuleWithoutDependenciesNeedsNull(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{
		"go.mod":  "module example.com/m\n\ngo 1.25.0\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n",
	})
	got, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != "null" {
		t.Errorf("vendorHash = %q, want null (buildGoModule refuses an empty vendor directory)", got)
	}
}

func TestUntidyModuleSaysRunGoModTidy(t *testing.T) {
	dep := xSyncFromScriptsGoSum(t)
	cases := map[string]map[string]string{
		"import without require": {"go.mod": "module example.com/m\n\ngo 1.25.0\n", "main.go": importErrgroup},
		"require without go.sum": {"go.mod": dep.goMod(), "main.go": importErrgroup},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeModule(t, dir, files)
			before := treeFingerprint(t, dir)
			_, _, err := vendorHash(dir)
			if err == nil {
				t.Fatal("vendorHash succeeded on a module that is not tidy")
			}
			msg := err.Error()
			if !strings.Contains(msg, "go mod vendor failed") || !strings.Contains(msg, "golang.org/x/sync/errgroup") || !strings.Contains(msg, "run `go mod tidy` in "+dir) {
				t.Errorf("error should pass on go's message and say to run go mod tidy:\n%s", msg)
			}
			if treeFingerprint(t, dir) != before {
				t.Error("the failed run changed the module directory")
			}
		})
	}
}

func TestModuleThatCannotDownloadIsReported(t *testing.T) {
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "")
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{
		"go.mod":  "module example.com/m\n\ngo 1.25.0\n\nrequire example.invalid/nothing v1.0.0\n",
		"go.sum":  "example.invalid/nothing v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nexample.invalid/nothing v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"main.go": "package main\n\nimport _ \"example.invalid/nothing\"\n\nfunc main() {}\n",
	})
	_, _, err := vendorHash(dir)
	if err == nil {
		t.Fatal("vendorHash succeeded without being able to download example.invalid/nothing")
	}
	if msg := err.Error(); !strings.Contains(msg, "example.invalid/nothing") || !strings.Contains(msg, "could not be downloaded") {
		t.Errorf("error should name the module and say it could not be downloaded:\n%s", msg)
	}
}

func TestNotAModule(t *testing.T) {
	_, _, err := vendorHash(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no go.mod") {
		t.Errorf("err = %v, want a message that the directory has no go.mod", err)
	}
}

func fingerprint(t *testing.T, dir string, names ...string) string {
	t.Helper()
	h := sha256.New()
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d %x\n", name, len(data), sha256.Sum256(data))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func treeFingerprint(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			fmt.Fprintf(&sb, "%s/\n", rel)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s %x\n", rel, sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestGoLineNewerThanLocalGoIsExplained(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{
		"go.mod":  "module example.com/m\n\ngo 1.99.0\n",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	_, _, err := vendorHash(dir)
	if err == nil {
		t.Fatal("vendorHash succeeded although go.mod asks for Go 1.99 and GOTOOLCHAIN=local")
	}
	if msg := err.Error(); !strings.Contains(msg, "1.99") || !strings.Contains(msg, "GOTOOLCHAIN=local") {
		t.Errorf("error should quote the go line and explain GOTOOLCHAIN=local:\n%s", msg)
	}
}

// Nix builds a git flake from the files git tracks: an untracked file that
// imports a new package must not change the hash (and is named in a
// warning); once added to git it does.
func TestUntrackedFilesDoNotCount(t *testing.T) {
	testkit.RequireTool(t, "git", "apt-get install -y git")
	dep := xSyncFromScriptsGoSum(t)
	dir := t.TempDir()
	writeModule(t, dir, map[string]string{"go.mod": dep.goMod(), "go.sum": dep.goSum, "main.go": importErrgroup})
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	tracked, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeModule(t, dir, map[string]string{
		"internal/limit/limit.go": "package limit\n\nimport _ \"golang.org/x/sync/semaphore\"\n",
	})
	var stdout, stderr strings.Builder
	if err := run([]string{dir}, &stdout, &stderr); err != nil {
		t.Fatalf("vendorhash %s: %v: %s", dir, err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != tracked {
		t.Errorf("with an untracked file the hash changed from %s to %s; Nix would not see that file", tracked, got)
	}
	if want := filepath.Join("internal", "limit", "limit.go"); !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "not tracked by git") {
		t.Errorf("no warning naming the untracked %s: %q", want, stderr.String())
	}
	if out, err := exec.Command("git", "-C", dir, "add", ".").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	added, _, err := vendorHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if added == tracked {
		t.Errorf("after git add of a file importing a new package the hash stayed %s", added)
	}
	if want := goModVendorHash(t, dir); added != want {
		t.Errorf("after git add: vendorHash = %s, nix hash path of go mod vendor = %s", added, want)
	}
}
