package refresh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"scripts/internal/testkit"
)

const (
	subject = "nix: refresh vendorHash"
	fresh   = "vendorHash is fresh"
)

// A Dependabot-shaped bump of the root module gets exactly one commit that
// fixes go.mod.sri, pushed to its own branch through the upstream that
// actions/checkout sets up; the next run finds it fresh and pushes nothing;
// no other branch moves.
func TestRefreshFixesABumpOnItsBranch(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	const branch = "dependabot/go_modules/bump"
	var message string
	bumped := o.branch(t, branch, "bump", func(dir string) { message = dependabotBump(t, dir) })
	t.Log(message)
	before := o.refs(t)

	dir := o.checkout(t, branch)
	stale := readFile(t, dir, "go.mod.sri")
	want := run(t, dir, filepath.Join(dir, "scripts", "vendorhash"), ".")
	if want == stale {
		t.Fatalf("%s left the vendorHash at %s; the test needs a bump that changes it", message, stale)
	}
	code, stdout, stderr, output := refreshInActions(t, dir, "--push")
	if code != 0 {
		t.Fatalf("refresh-vendorhash --push: exit %d\n%s%s", code, stdout, stderr)
	}
	if output != "pushed=true\n" {
		t.Errorf("GITHUB_OUTPUT got %q, want pushed=true", output)
	}
	tip := o.tip(t, branch)
	if got := git(t, o.dir, "rev-list", "--count", bumped+".."+tip); got != "1" {
		t.Fatalf("%s gained %s commits, want exactly 1\n%s", branch, got, stdout)
	}
	if parent := git(t, o.dir, "rev-parse", tip+"^"); parent != bumped {
		t.Errorf("the new commit's parent is %s, want the bump %s", parent, bumped)
	}
	if files := git(t, o.dir, "diff-tree", "--no-commit-id", "--name-only", "-r", tip); files != "go.mod.sri" {
		t.Errorf("the new commit changes %q, want only go.mod.sri", files)
	}
	msg := git(t, o.dir, "log", "-1", "--format=%B", tip)
	if !strings.HasPrefix(msg, subject+"\n") || !strings.Contains(msg, stale) || !strings.Contains(msg, want) {
		t.Errorf("commit message %q: want %q and a body with the old and new hash", msg, subject)
	}
	// Without it Dependabot stops rebasing its PR once another commit is on it.
	if !strings.Contains(msg, "[dependabot skip]") {
		t.Errorf("commit message %q lacks [dependabot skip]", msg)
	}
	if got := git(t, o.dir, "show", tip+":go.mod.sri"); got != want {
		t.Errorf("pushed go.mod.sri = %s, want %s", got, want)
	}
	assertOnlyMoved(t, before, o.refs(t), "refs/heads/"+branch)

	again := o.checkout(t, branch)
	code, stdout, stderr, output = refreshInActions(t, again, "--push")
	if code != 0 || !strings.Contains(stdout, fresh) || output != "pushed=false\n" {
		t.Errorf("second run: exit %d, stdout %q, stderr %q, GITHUB_OUTPUT %q; want %q and pushed=false", code, stdout, stderr, output, fresh)
	}
	if o.tip(t, branch) != tip || git(t, again, "rev-parse", "HEAD") != tip {
		t.Error("the second run committed or pushed")
	}
}

// An untouched branch stays untouched.
func TestRefreshLeavesAFreshBranchAlone(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	before := o.refs(t)
	dir := o.checkout(t, "main")
	code, stdout, stderr := refresh(t, dir, "--push")
	if code != 0 || !strings.Contains(stdout, fresh) {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, fresh)
	}
	if git(t, dir, "rev-parse", "HEAD") != o.main || git(t, dir, "status", "--porcelain") != "" {
		t.Error("the run on a fresh branch committed or changed files")
	}
	assertOnlyMoved(t, before, o.refs(t), "")
}

// On a detached HEAD --push needs --branch; with it, the commit goes there.
func TestRefreshOnADetachedHead(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	const branch = "bump"
	bumped := o.branch(t, branch, "bump", func(dir string) { dependabotBump(t, dir) })
	dir := o.checkout(t, branch)
	git(t, dir, "checkout", "-q", "--detach")

	code, stdout, stderr := refresh(t, dir, "--push")
	if code == 0 || !strings.Contains(stderr, "detached") || !strings.Contains(stderr, "--branch") {
		t.Errorf("--push on a detached HEAD: exit %d, stderr %q; want an error naming --branch", code, stderr)
	}
	assertNothingDone(t, o, dir, branch, bumped, stdout)

	code, stdout, stderr = refresh(t, dir, "--push", "--branch", branch)
	if code != 0 {
		t.Fatalf("--push --branch %s: exit %d\n%s%s", branch, code, stdout, stderr)
	}
	if got := git(t, o.dir, "rev-list", "--count", bumped+".."+o.tip(t, branch)); got != "1" {
		t.Errorf("%s gained %s commits, want 1", branch, got)
	}
}

// Without --push (a local run) the commit stays local.
func TestRefreshWithoutPushCommitsLocally(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	const branch = "local-bump"
	bumped := o.branch(t, branch, "bump", func(dir string) { dependabotBump(t, dir) })
	dir := o.checkout(t, branch)
	code, stdout, stderr := refresh(t, dir)
	if code != 0 || !strings.Contains(stdout, "not pushed") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want a commit that is not pushed", code, stdout, stderr)
	}
	if got := git(t, dir, "rev-list", "--count", bumped+"..HEAD"); got != "1" {
		t.Errorf("HEAD gained %s commits, want 1", got)
	}
	if got := git(t, dir, "log", "-1", "--format=%s"); got != subject {
		t.Errorf("commit subject %q, want %q", got, subject)
	}
	if o.tip(t, branch) != bumped {
		t.Error("a run without --push pushed")
	}
	if git(t, dir, "status", "--porcelain") != "" {
		t.Error("the work tree is not clean after the commit")
	}
}

// Errors stop the command before it writes anything: nothing committed,
// nothing pushed, the work tree as it was.
func TestRefreshRefuses(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	cases := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		local func(t *testing.T, dir string) // after checkout, not committed
		env   []string
		want  []string
	}{{
		name: "a module that is not tidy: a requirement missing",
		edit: func(t *testing.T, dir string) {
			goModEdit(t, dir, "-droprequire="+firstIndirect(t, dir).Path)
		},
		want: []string{"not tidy", "go mod tidy"},
	}, {
		// go mod vendor does not mind this one; go mod tidy -diff does.
		name: "a module that is not tidy: a direct requirement marked indirect",
		edit: markDirectIndirect,
		want: []string{"not tidy", "go mod tidy"},
	}, {
		name: "a module that does not download",
		edit: func(t *testing.T, dir string) {
			r := firstIndirect(t, dir)
			goModEdit(t, dir, "-require="+r.Path+"@"+unreachableVersion(r))
		},
		env:  []string{"GOPROXY=off"},
		want: []string{"cannot be downloaded", "GOPROXY"},
	}, {
		name: "a dirty work tree",
		edit: func(t *testing.T, dir string) { dependabotBump(t, dir) },
		local: func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "go.mod"), "// a local edit\n")
		},
		want: []string{"uncommitted changes", "go.mod", "commit or stash"},
	}}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			branch := "case" + string(rune('a'+i))
			tip := o.branch(t, branch, c.name, func(dir string) { c.edit(t, dir) })
			dir := o.checkout(t, branch)
			if c.local != nil {
				c.local(t, dir)
			}
			status := git(t, dir, "status", "--porcelain")
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			code, stdout, stderr := refresh(t, dir, "--push")
			if code == 0 {
				t.Fatalf("exit 0, want an error\n%s%s", stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			assertNothingDone(t, o, dir, branch, tip, stdout)
			if got := git(t, dir, "status", "--porcelain"); got != status {
				t.Errorf("the work tree changed from %q to %q", status, got)
			}
		})
	}
}

// A bump of the scripts module alone needs nothing: the command says so
// without computing anything (the bumped version need not even exist).
func TestRefreshIgnoresTheScriptsModule(t *testing.T) {
	testkit.FullTier(t)
	o := newOrigin(t)
	const branch = "dependabot/go_modules/scripts/bump"
	tip := o.branch(t, branch, "bump scripts", func(dir string) {
		scripts := filepath.Join(dir, "scripts")
		r := parseGoMod(t, filepath.Join(scripts, "go.mod")).Require[0].Mod
		goModEdit(t, scripts, "-require="+r.Path+"@"+unreachableVersion(r))
	})
	dir := o.checkout(t, branch)
	code, stdout, stderr, output := refreshInActions(t, dir, "--push")
	if code != 0 || !strings.Contains(stdout, "the scripts module is not built by Nix: nothing to refresh") || output != "pushed=false\n" {
		t.Errorf("exit %d, stdout %q, stderr %q, GITHUB_OUTPUT %q; want the scripts module message and pushed=false", code, stdout, stderr, output)
	}
	assertNothingDone(t, o, dir, branch, tip, stdout)
}

func TestUsage(t *testing.T) {
	testkit.FullTier(t)
	dir := testkit.RepoRoot(t)
	for _, args := range [][]string{{"--bogus"}, {"--branch"}} {
		if code, _, stderr := refresh(t, dir, args...); code == 0 || !strings.Contains(stderr, "usage: scripts/refresh-vendorhash") {
			t.Errorf("%v: exit %d, stderr %q; want an error and the usage", args, code, stderr)
		}
	}
	if code, stdout, _ := refresh(t, dir, "-h"); code != 0 || !strings.Contains(stdout, "--base REF") {
		t.Errorf("-h: exit %d, stdout %q", code, stdout)
	}
}

func assertNothingDone(t *testing.T, o origin, dir, branch, tip, stdout string) {
	t.Helper()
	if got := o.tip(t, branch); got != tip {
		t.Errorf("%s moved from %s to %s\n%s", branch, tip, got, stdout)
	}
	if got := git(t, dir, "rev-parse", "HEAD"); got != tip {
		t.Errorf("HEAD moved from %s to %s: something was committed\n%s", tip, got, stdout)
	}
}

// assertOnlyMoved checks that no ref but moved changed between two
// for-each-ref listings.
func assertOnlyMoved(t *testing.T, before, after, moved string) {
	t.Helper()
	keep := func(refs string) []string {
		var out []string
		for _, line := range strings.Split(refs, "\n") {
			if name, _, _ := strings.Cut(line, " "); name != moved {
				out = append(out, line)
			}
		}
		return out
	}
	if b, a := strings.Join(keep(before), "\n"), strings.Join(keep(after), "\n"); b != a {
		t.Errorf("refs other than %q changed:\nbefore %s\nafter  %s", moved, b, a)
	}
}

func firstIndirect(t *testing.T, dir string) module.Version {
	t.Helper()
	for _, r := range parseGoMod(t, filepath.Join(dir, "go.mod")).Require {
		if r.Indirect {
			return r.Mod
		}
	}
	t.Fatalf("%s/go.mod has no indirect requirement to break", dir)
	return module.Version{}
}

func markDirectIndirect(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "go.mod")
	f := parseGoMod(t, path)
	var reqs []*modfile.Require
	marked := false
	for _, r := range f.Require {
		reqs = append(reqs, &modfile.Require{Mod: r.Mod, Indirect: r.Indirect || !marked})
		marked = marked || !r.Indirect
	}
	if !marked {
		t.Fatalf("%s has no direct requirement", path)
	}
	f.SetRequire(reqs)
	data, err := f.Format()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
