// Package testkit holds what the scripts module's tests share: the
// repository root, required tools, a scratch directory, and the service
// started on a loopback port (servicebuild.Binary builds it).
package testkit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scripts/internal/repo"
)

// Main runs a package's tests, then removes what they kept in ScratchDir
// (such as service binaries). Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	scratch.mu.Lock()
	if scratch.dir != "" {
		os.RemoveAll(scratch.dir)
	}
	scratch.mu.Unlock()
	os.Exit(code)
}

// RepoRoot is the repository root, or the test fails saying why.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FullTierEnv names the variable scripts/test sets to "default" when it runs
// the default tier, the quick guard of a user's edit.
const FullTierEnv = "SCRIPTS_TEST_TIER"

// FullTier marks a test of the template's own machinery (scripts/deploy's
// scenarios, refresh-vendorhash against bare repositories, the scenario
// suite on edited copies): it is skipped in scripts/test's default tier and
// runs in the full tier (scripts/test --all, which CI runs) and under a plain
// go test.
func FullTier(t testing.TB) {
	t.Helper()
	if os.Getenv(FullTierEnv) == "default" {
		t.Skip("full tier: scripts/test --all runs this test of the template's machinery")
	}
}

// RequireTool returns the path of a program the test needs. When it is not
// on PATH the test fails under CI=true (a missing tool is an error there)
// and is skipped, naming the tool and how to install it, otherwise.
func RequireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (CI=true makes this an error); install it: %s", name, install)
	}
	t.Skipf("skipping: %s is not installed; install it: %s", name, install)
	return ""
}

// FreePort returns a loopback TCP port nothing listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// LockPort holds an exclusive lock named after port until the test ends, so
// test processes that must use one fixed port (the service's default) take
// turns: go test runs packages in parallel, and the scenario tests run the
// same checks on several copies at once.
func LockPort(t testing.TB, port string) {
	t.Helper()
	name := filepath.Join(os.TempDir(), "service-port-"+port+".lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
	if errors.Is(err, os.ErrPermission) {
		f, err = os.Open(name) // another user's lock file: flock needs only a descriptor
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Chmod(0o666) // the umask's 0644 would shut other users out
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}

var scratch struct {
	mu  sync.Mutex
	dir string
}

// ScratchDir returns a new directory named after name inside one that lives
// as long as the test binary: Main removes it after the tests.
func ScratchDir(t testing.TB, name string) string {
	t.Helper()
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	if scratch.dir == "" {
		dir, err := os.MkdirTemp("", "service-test-")
		if err != nil {
			t.Fatal(err)
		}
		scratch.dir = dir
	}
	dir, err := os.MkdirTemp(scratch.dir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartService runs the service binary bin on a free loopback port with the
// extra environment env, waits until it has logged that it started and
// answers /version (part of the service's contract; /ping may be replaced),
// and returns its base URL. It is stopped with SIGTERM when
// the test ends. A port taken by someone else between choosing and binding
// it makes the service exit; it is then started again on another port.
func StartService(t testing.TB, bin string, env ...string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		if base, ok := startServiceOnce(t, bin, env); ok {
			return base
		}
	}
	t.Fatalf("the service (%v) did not start on any of 5 loopback ports", env)
	return ""
}

func startServiceOnce(t testing.TB, bin string, env []string) (string, bool) {
	t.Helper()
	port := FreePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"PORT=" + port, "GIN_MODE=release"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	// The service logs "server started" only once it holds the port, so a
	// server of another test on the same port is never mistaken for it.
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"server started"`) {
				close(started)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	select {
	case <-started:
	case <-exited:
		return "", false
	case <-time.After(10 * time.Second):
		stop()
		return "", false
	}
	base := "http://127.0.0.1:" + port
	status := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/version"); err == nil {
			resp.Body.Close()
			if status = resp.StatusCode; status == http.StatusOK {
				t.Cleanup(stop)
				return base, true
			}
		}
	}
	stop()
	if status != 0 {
		// It started and answers, but not /version: another port will not help.
		t.Fatalf("the service (%v) started but GET /version answered %d: the deploy verifies a release by /version, so keep it when you replace /ping", env, status)
	}
	return "", false
}

// CopyRepo copies the files of the repository at root that a user's clone
// holds (git-tracked, plus untracked ones git does not ignore), with their
// modes, into a new git repository with one commit, and returns its path.
// Not t.TempDir: its name comes from the test's, and a comma in a path ends
// a Nix path literal.
func CopyRepo(t testing.TB, root string) string {
	t.Helper()
	git := RequireTool(t, "git", "apt-get install git")
	out, err := exec.Command(git, "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	dir, err := os.MkdirTemp("", "repo-copy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Lstat(filepath.Join(root, name))
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=template-test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "the template"},
	} {
		if out, err := exec.Command(git, append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %s in the copy: %v\n%s", args, err, out)
		}
	}
	return dir
}
