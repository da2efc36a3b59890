package refresh

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"scripts/internal/testkit"
)

// origin is a bare repository standing in for GitHub: its main branch holds
// the git-tracked files of this checkout with a fresh go.mod.sri.
type origin struct {
	dir  string
	main string // the seed commit
}

// TestMain keeps the user's git configuration out of the tests and gives
// them an identity to commit with.
func TestMain(m *testing.M) {
	empty, err := os.CreateTemp("", "refresh-gitconfig-")
	if err != nil {
		panic(err)
	}
	empty.Close()
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL": empty.Name(), "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
		"GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	os.Remove(empty.Name())
	if sharedTmp != "" {
		os.RemoveAll(sharedTmp)
	}
	os.Exit(code)
}

var (
	shared     origin
	sharedOnce sync.Once
	sharedTmp  string // removed by TestMain
)

// newOrigin returns the origin the tests share (each test works on its own
// branches): copying the checkout and computing the seed's hash is the slow
// part, done once.
func newOrigin(t *testing.T) origin {
	t.Helper()
	testkit.RequireTool(t, "git", "apt-get install -y git")
	sharedOnce.Do(func() { shared = makeOrigin(t) })
	if shared.dir == "" {
		t.Fatal("the origin repository could not be made: see the first test that failed")
	}
	return shared
}

func makeOrigin(t *testing.T) origin {
	t.Helper()
	tmp, err := os.MkdirTemp("", "refresh-origin-")
	if err != nil {
		t.Fatal(err)
	}
	sharedTmp = tmp
	seed := filepath.Join(tmp, "seed")
	copyTracked(t, testkit.RepoRoot(t), seed)
	git(t, seed, "init", "-q", "-b", "main")
	git(t, seed, "add", "-A")
	run(t, seed, filepath.Join(seed, "scripts", "vendorhash"), "--write", ".")
	git(t, seed, "add", "-A")
	git(t, seed, "commit", "-q", "-m", "seed")
	dir := filepath.Join(tmp, "github.git")
	git(t, "", "clone", "-q", "--bare", seed, dir)
	return origin{dir: dir, main: git(t, dir, "rev-parse", "refs/heads/main")}
}

// checkout checks out branch the way actions/checkout does for
// `ref: <branch>` and `fetch-depth: 0` (src/git-source-provider.ts,
// src/ref-helper.ts and src/git-command-manager.ts in actions/checkout
// v7.0.1): init, add the remote, fetch every branch, then
// `checkout --force -B <branch> refs/remotes/origin/<branch>`.
func (o origin) checkout(t *testing.T, branch string) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	git(t, dir, "remote", "add", "origin", o.dir)
	git(t, dir, "-c", "protocol.version=2", "fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules",
		"origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
	git(t, dir, "checkout", "-q", "--force", "-B", branch, "refs/remotes/origin/"+branch)
	return dir
}

// branch creates branch from main with one commit made by edit.
func (o origin) branch(t *testing.T, branch, message string, edit func(dir string)) string {
	t.Helper()
	dir := o.checkout(t, "main")
	git(t, dir, "checkout", "-q", "-b", branch)
	edit(dir)
	git(t, dir, "commit", "-q", "-a", "-m", message)
	git(t, dir, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return git(t, dir, "rev-parse", "HEAD")
}

func (o origin) refs(t *testing.T) string {
	t.Helper()
	return git(t, o.dir, "for-each-ref", "--format=%(refname) %(objectname)")
}

func (o origin) tip(t *testing.T, branch string) string {
	t.Helper()
	return git(t, o.dir, "rev-parse", "refs/heads/"+branch)
}

// refresh runs scripts/refresh-vendorhash in dir and returns its exit code
// and output.
func refresh(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr, _ := refreshInActions(t, dir, args...)
	return code, stdout, stderr
}

// refreshInActions is refresh with GITHUB_OUTPUT set, as in a workflow
// step; it also returns what the command wrote there.
func refreshInActions(t *testing.T, dir string, args ...string) (code int, stdout, stderr, output string) {
	t.Helper()
	outputFile := filepath.Join(t.TempDir(), "github-output")
	cmd := exec.Command(filepath.Join(dir, "scripts", "refresh-vendorhash"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GITHUB_OUTPUT="+outputFile)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(outputFile)
	return code, out.String(), errOut.String(), string(written)
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	return run(t, "", "git", args...)
}

// run runs name in dir (if set) and returns its trimmed stdout.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// copyTracked copies the files git tracks in src (as they are in the work
// tree) to dst, keeping the executable bit.
func copyTracked(t *testing.T, src, dst string) {
	t.Helper()
	for _, rel := range strings.Split(git(t, src, "ls-files", "-z"), "\x00") {
		if rel == "" {
			continue
		}
		from := filepath.Join(src, filepath.FromSlash(rel))
		info, err := os.Lstat(from)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		} else if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if info.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(from)
			if err == nil {
				err = os.Symlink(target, to)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}
