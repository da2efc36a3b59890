// Package testkit holds what the scripts module's tests share: the
// repository root, required tools, and the real service built like the flake
// and started on a loopback port.
package testkit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flakeship/flakeship/scripts/internal/repo"
	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

// Main runs a package's tests, then removes the service binaries they built.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
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

var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string // version → binary
}

// ServiceBinary builds the service once per version, exactly as the flake
// does (servicebuild.Build), and returns the binary's path.
func ServiceBinary(t testing.TB, version string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[version]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "flakeship-test-service-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	dir, err := os.MkdirTemp(builds.dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := servicebuild.Build(RepoRoot(t), dir, "flakeship", version)
	if err != nil {
		t.Fatalf("building the service: %v", err)
	}
	builds.bins[version] = bin
	return bin
}

// StartService runs the service binary bin on a free loopback port with the
// extra environment env, waits until it has logged that it started and
// answers /ping, and returns its base URL. It is stopped with SIGTERM when
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
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(stop)
				return base, true
			}
		}
	}
	stop()
	return "", false
}
