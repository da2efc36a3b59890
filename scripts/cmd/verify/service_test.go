package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scripts/internal/servicebuild"
	"scripts/internal/testkit"
)

// builtVersion is linked into the test binary with -X main.version.
const builtVersion = "v-verify-test"

func TestMain(m *testing.M) { testkit.Main(m) }

// startService runs the real service (built like the flake) on a free
// loopback port with the given extra environment and returns its base URL.
func startService(t *testing.T, env ...string) string {
	t.Helper()
	return testkit.StartService(t, servicebuild.Binary(t, builtVersion), env...)
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
