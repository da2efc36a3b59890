package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"scripts/internal/testkit"
)

// copyRepo copies the repository into a new git repository and points
// repo.Root at it.
func copyRepo(t *testing.T) string {
	t.Helper()
	dir := testkit.CopyRepo(t, testkit.RepoRoot(t))
	t.Setenv("SCRIPTS_REPO_ROOT", dir)
	return dir
}

// treeHash hashes every file's name and content under dir.
func treeHash(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p + "\x00"))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// targets are rename arguments that differ from the copy's own names (its
// app, region, module and binary), so the tests rename something whatever
// the repository is already called.
type targets struct{ app, region, module, binary string }

func renameTargets(t *testing.T, dir string) targets {
	t.Helper()
	module := modfile.ModulePath([]byte(read(t, dir, "go.mod")))
	fly, docker := read(t, dir, "fly.toml"), read(t, dir, "Dockerfile")
	for _, c := range []targets{
		{"acme-api", "fra", "example.com/acme/api/v2", "api"},
		{"widget-svc", "cdg", "example.com/widget/svc/v2", "svc"},
	} {
		if !strings.Contains(fly, `"`+c.app+`"`) && !strings.Contains(fly, `"`+c.region+`"`) &&
			module != c.module && !strings.Contains(docker, "/"+c.binary+`"`) {
			return c
		}
	}
	t.Fatal("no rename targets differ from the repository's names")
	return targets{}
}

func TestRenameChangesEveryName(t *testing.T) {
	dir := copyRepo(t)
	to := renameTargets(t, dir)
	oldModule := modfile.ModulePath([]byte(read(t, dir, "go.mod")))
	oldScripts := modfile.ModulePath([]byte(read(t, dir, "scripts/go.mod")))
	// A package of the root module that imports another one.
	sub := filepath.Join(dir, "internal", "greet", "greet.go")
	if err := os.MkdirAll(filepath.Dir(sub), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, []byte("package greet\n\nimport _ \""+oldModule+"/internal/words\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", dir, "add", "-A").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	var stdout bytes.Buffer
	if err := run([]string{"--app", to.app, "--module", to.module, "--region", to.region}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "changed fly.toml") {
		t.Errorf("output %q does not list the changed files", stdout.String())
	}
	flyToml := read(t, dir, "fly.toml")
	for _, want := range []string{`app = "` + to.app + `"`, `primary_region = "` + to.region + `"`} {
		if !strings.Contains(flyToml, want) {
			t.Errorf("fly.toml lacks %s:\n%s", want, flyToml)
		}
	}
	if got := modfile.ModulePath([]byte(read(t, dir, "go.mod"))); got != to.module {
		t.Errorf("go.mod module %q", got)
	}
	if got := modfile.ModulePath([]byte(read(t, dir, "scripts/go.mod"))); got != oldScripts {
		t.Errorf("scripts/go.mod module %q, want the tooling module's own path %q kept: it is not the user's name", got, oldScripts)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if file := strings.TrimPrefix(line, "changed "); strings.HasPrefix(file, "scripts/") {
			t.Errorf("rename changed %s: the tooling module names none of the user's names, so a rename must leave it alone", file)
		}
	}
	if cmd := regexp.MustCompile(`(?m)^CMD \[".*?"`).FindString(read(t, dir, "Dockerfile")); !strings.HasSuffix(cmd, "/"+to.binary+`"`) {
		t.Errorf("Dockerfile %s, want the binary %s (go install drops the /v2)", cmd, to.binary)
	}
	// flake.nix names the binary once (pname; mainProgram follows it).
	if flake := read(t, dir, "flake.nix"); !strings.Contains(flake, `pname = "`+to.binary+`"`) {
		t.Errorf("flake.nix has no pname = %q", to.binary)
	}
	if got := read(t, dir, "internal/greet/greet.go"); !strings.Contains(got, `"`+to.module+`/internal/words"`) {
		t.Errorf("a root-module import was not renamed:\n%s", got)
	}
	if grep, _ := exec.Command("grep", "-rl", "--exclude-dir=.git", "--exclude-dir=scripts", `"`+oldModule+`/`, dir).Output(); len(grep) > 0 {
		t.Errorf("files still import %s: %s", oldModule, grep)
	}
}

func TestRenameTwiceIsStable(t *testing.T) {
	dir := copyRepo(t)
	args := []string{"--app", "acme", "--module", "github.com/acme/acme"}
	if err := run(args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, dir)
	var stdout bytes.Buffer
	if err := run(args, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if treeHash(t, dir) != before || stdout.Len() > 0 {
		t.Errorf("renaming to the same names again changed %q", stdout.String())
	}
}

func TestBadNamesChangeNothing(t *testing.T) {
	dir := copyRepo(t)
	before := treeHash(t, dir)
	to := renameTargets(t, dir)
	good := map[string]string{"--app": to.app, "--module": to.module}
	cases := []struct {
		flag, value, complaint string
	}{
		{"--app", "Acme_API", "lowercase letters, digits and dashes"},
		{"--app", "-acme", "not starting or ending with a dash"},
		{"--app", strings.Repeat("a", 64), "1 to 63"},
		{"--app", "", "--app NAME is required"},
		{"--module", "github.com/acme/api/", "--module"},
		{"--module", "github.com/ac me/api", "invalid char"},
		{"--module", "", "--module PATH is required"},
		{"--region", "frankfurt", "three-letter code"},
		{"--binary", "server", "choose a module path ending in /server"},
	}
	for _, c := range cases {
		t.Run(c.flag+"="+c.value, func(t *testing.T) {
			args := []string{}
			for flag, value := range good {
				if flag != c.flag {
					args = append(args, flag, value)
				}
			}
			args = append(args, c.flag, c.value)
			err := run(args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.complaint) {
				t.Errorf("rename %q: got %v, want an error containing %q", args, err, c.complaint)
			}
			if treeHash(t, dir) != before {
				t.Fatal("a rejected rename changed files")
			}
		})
	}
}

func TestFileItCannotEditChangesNothing(t *testing.T) {
	dir := copyRepo(t)
	dockerfile := filepath.Join(dir, "Dockerfile")
	b := regexp.MustCompile(`(?m)^CMD .*$`).ReplaceAll([]byte(read(t, dir, "Dockerfile")), []byte(`CMD /bin/server`))
	if err := os.WriteFile(dockerfile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	to := renameTargets(t, dir)
	before := treeHash(t, dir)
	err := run([]string{"--app", to.app, "--module", to.module}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("a Dockerfile without an exec-form CMD: got %v, want an error naming the Dockerfile", err)
	}
	if treeHash(t, dir) != before {
		t.Error("a failed rename changed files")
	}
}

func TestOutsideGitChangesNothing(t *testing.T) {
	dir := copyRepo(t)
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		t.Fatal(err)
	}
	to := renameTargets(t, dir)
	before := treeHash(t, dir)
	err := run([]string{"--app", to.app, "--module", to.module}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "git init") {
		t.Errorf("outside git: got %v, want an error saying to run git init", err)
	}
	if treeHash(t, dir) != before {
		t.Error("a failed rename changed files")
	}
}

// TestRenameLeavesNoOldName: after a rename the repository is the user's.
// Outside README.md and docs/ (prose about the template) and the tooling
// (whose examples may use the same names, such as acme-api) no file names
// the old app or module; and, where the repository is still named after its
// binary (README.md's title, as the template is), no file outside README.md
// and docs/ names that either: code uses neutral words (the service, the
// app) for everything else.
func TestRenameLeavesNoOldName(t *testing.T) {
	dir := copyRepo(t)
	to := renameTargets(t, dir)
	oldModule := modfile.ModulePath([]byte(read(t, dir, "go.mod")))
	oldApp := regexp.MustCompile(`(?m)^app\s*=\s*["']([^"']+)`).FindStringSubmatch(read(t, dir, "fly.toml"))
	if oldApp == nil {
		t.Fatal("fly.toml has no top-level app")
	}
	if err := run([]string{"--app", to.app, "--module", to.module, "--region", to.region}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// grep lists the files outside README.md, docs/ and excluded that
	// hold the fixed string old (-i -w: as a word, in any case).
	grep := func(old string, word bool, excluded ...string) string {
		args := []string{"-C", dir, "grep", "-l", "-F"}
		if word {
			args = append(args, "-i", "-w")
		}
		args = append(append(args, old, "--", ".", ":!README.md", ":!docs"), excluded...)
		out, _ := exec.Command("git", args...).Output() // exit 1: no match
		return strings.TrimSpace(string(out))
	}
	for _, old := range []string{oldModule, oldApp[1]} {
		if files := grep(old, false, ":!scripts"); files != "" {
			t.Errorf("after the rename these files still name %q; make rename change them or use a neutral word there:\n%s", old, files)
		}
	}
	title := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(read(t, dir, "README.md"), "\n", 2)[0], "# "))
	if oldBinary := execName(oldModule); strings.EqualFold(title, oldBinary) {
		if files := grep(oldBinary, true); files != "" {
			t.Errorf("after the rename these files still name %q, the name the repository had: use a neutral word (the service, the app, the package) or make rename change it:\n%s", oldBinary, files)
		}
	}
}
