package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flakeship/flakeship/scripts/internal/repo"
	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

// builtVersion is linked into the test binary with -X main.version.
const builtVersion = "v-verify-test"

var (
	buildOnce   sync.Once
	serviceDir  string
	servicePath string
	buildErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serviceDir != "" {
		os.RemoveAll(serviceDir)
	}
	os.Exit(code)
}

// serviceBinary builds the real service once, the way the flake does.
func serviceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repo.Root()
		if err != nil {
			buildErr = err
			return
		}
		serviceDir, buildErr = os.MkdirTemp("", "verify-test-service-")
		if buildErr != nil {
			return
		}
		servicePath, buildErr = servicebuild.Build(root, serviceDir, "flakeship", builtVersion)
	})
	if buildErr != nil {
		t.Fatalf("building the service: %v", buildErr)
	}
	return servicePath
}

// startService runs the real service on a free loopback port with the given
// extra environment and returns its base URL once /ping answers. If the port
// was taken between choosing and binding it, the service exits and is started
// again on another port.
func startService(t *testing.T, env ...string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		if base, ok := startServiceOnce(t, env); ok {
			return base
		}
	}
	t.Fatalf("the service (%v) did not start on any of 5 loopback ports", env)
	return ""
}

func startServiceOnce(t *testing.T, env []string) (string, bool) {
	t.Helper()
	bin := serviceBinary(t)
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"PORT=" + port, "GIN_MODE=release"}, env...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
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
	base := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return "", false
		default:
		}
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

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// switchingProxy forwards to old until switchAfter has passed, then to new:
// what a client of the Fly proxy sees during a rollout.
func switchingProxy(t *testing.T, oldURL, newURL string, switchAfter time.Duration) *httptest.Server {
	t.Helper()
	oldP, newP := reverseProxy(t, oldURL), reverseProxy(t, newURL)
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < switchAfter {
			oldP.ServeHTTP(w, r)
			return
		}
		newP.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// failingFirstProxy answers 503 to the first n requests, then forwards.
func failingFirstProxy(t *testing.T, target string, n int64) *httptest.Server {
	t.Helper()
	p := reverseProxy(t, target)
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			http.Error(w, "no healthy machine", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func reverseProxy(t *testing.T, target string) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return httputil.NewSingleHostReverseProxy(u)
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return fmt.Sprintf("http://%s", l.Addr())
}
