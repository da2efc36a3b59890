package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// load keeps concurrent keep-alive clients busy on GET /ping and sorts the
// outcomes: a request either succeeds, or fails to connect because the
// listener is closed (refused, or reset while still in the kernel's accept
// queue: never accepted by the server). Anything else means an accepted
// request failed.
type load struct {
	ok, refused atomic.Int64
	mu          sync.Mutex
	failures    []error
	stopCh      chan struct{}
	wg          sync.WaitGroup
}

func startLoad(url string, workers int) *load {
	l := &load{stopCh: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: shutdownTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				resp, err := client.Get(url)
				if neverAccepted(err) {
					l.refused.Add(1)
					return
				}
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil && resp.StatusCode == http.StatusOK && string(body) == `{"message":"pong"}` {
						l.ok.Add(1)
						continue
					}
					err = errors.New("bad response: " + resp.Status + " " + string(body))
					if rerr != nil {
						err = rerr
					}
				}
				l.mu.Lock()
				l.failures = append(l.failures, err)
				l.mu.Unlock()
				return
			}
		}()
	}
	return l
}

func neverAccepted(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func (l *load) waitForSuccesses(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.ok.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("load reached only %d successes in 10s", l.ok.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *load) stop(t *testing.T) {
	t.Helper()
	close(l.stopCh)
	l.wg.Wait()
	for _, err := range l.failures {
		t.Errorf("a request failed during shutdown: %v", err)
	}
	if l.ok.Load() == 0 {
		t.Errorf("no request succeeded")
	}
	t.Logf("load: %d ok, %d refused after the listener closed", l.ok.Load(), l.refused.Load())
}

// Not parallel: the signal goes to the whole test process, and Go runs
// parallel tests only after the sequential ones, so no other run() sees it.
func TestRunStopsGracefullyOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startRun(t, nil)
			l := startLoad(s.url+"/ping", 16)
			l.waitForSuccesses(t, 500)
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-s.done:
				s.done <- err
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Fatalf("run did not return within %s of %s", shutdownTimeout, sig)
			}
			l.stop(t)
			if err != nil {
				t.Errorf("run returned %v after %s, want nil", err, sig)
			}
			rec := s.stdout.waitFor(t, 0, msgIs("server stopping"))
			if reason, _ := rec["reason"].(string); !strings.Contains(reason, "signal") {
				t.Errorf("stopping record %v does not name the signal", rec)
			}
			s.stdout.waitFor(t, 0, msgIs("server stopped"))
		})
	}
}

// blockingRouter is the production router plus /slow, which answers only
// when released, so a request can be held in flight across shutdown.
func blockingRouter(logger *slog.Logger) (*gin.Engine, chan struct{}, chan struct{}) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	r := newRouter(config{Version: "dev"}, logger)
	r.GET("/slow", func(c *gin.Context) {
		entered <- struct{}{}
		<-release
		writeJSON(c, http.StatusOK, pongBody)
	})
	return r, entered, release
}

func startServe(t *testing.T, router http.Handler, logs *logSink, drain time.Duration) (string, context.CancelFunc, chan error) {
	t.Helper()
	port := freePort(t)
	cfg := config{Port: port, Version: "dev"}
	logger := newLogger(logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newServer(router, logger), logger, drain) }()
	logs.waitFor(t, 10*time.Second, msgIs("server started"))
	return "http://127.0.0.1:" + port, cancel, done
}

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	router, entered, release := blockingRouter(newLogger(logs))
	url, cancel, done := startServe(t, router, logs, shutdownTimeout)
	defer cancel()

	slow := make(chan response, 1)
	go func() { slow <- do(t, http.DefaultClient, "GET", url+"/slow", nil) }()
	<-entered
	cancel()

	// New connections are refused while the accepted request is held.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener still accepting 5s after shutdown began (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned %v while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}

	close(release)
	if got := <-slow; got.status != 200 || got.body != `{"message":"pong"}` {
		t.Errorf("in-flight request got %d %q, want 200 pong", got.status, got.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after the drain, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the in-flight request finished")
	}
}

func TestShutdownDrainIsBounded(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	router, entered, release := blockingRouter(newLogger(logs))
	defer close(release)
	const drain = 300 * time.Millisecond
	url, cancel, done := startServe(t, router, logs, drain)
	defer cancel()

	go func() {
		resp, err := http.Get(url + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish within "+drain.String()) {
			t.Errorf("serve returned %v, want an error naming the %s drain bound", err, drain)
		}
		if elapsed := time.Since(start); elapsed > drain+2*time.Second {
			t.Errorf("serve took %s to give up, bound is %s", elapsed, drain)
		}
	case <-time.After(drain + 5*time.Second):
		t.Fatal("serve did not give up on a request that never finishes")
	}
	if rec := logs.waitFor(t, 0, msgIs("drain incomplete, connections closed")); rec["level"] != "ERROR" {
		t.Errorf("drain timeout logged as %v, want ERROR", rec)
	}
}
