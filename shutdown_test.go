package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// load keeps concurrent keep-alive clients busy on GET /ping and sorts the
// outcomes: a request either succeeds, or was never accepted by the server
// because the listener had closed (see neverAccepted). Anything else means a
// request the server accepted failed.
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
				conn := &connTrace{}
				resp, err := conn.get(client, url)
				if neverAccepted(err, conn) {
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
				l.failures = append(l.failures, fmt.Errorf("%w (connection reused %v, response started %v)", err, conn.reused.Load(), conn.responded.Load()))
				l.mu.Unlock()
				return
			}
		}()
	}
	return l
}

// connTrace is what httptrace saw of the connection a request last used
// (the transport may retry a request on a new connection). The hooks run on
// the transport's goroutines, hence the atomics.
type connTrace struct {
	got, reused, wrote, responded atomic.Bool
}

func (c *connTrace) get(client *http.Client, url string) (*http.Response, error) {
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c.got.Store(true)
			c.reused.Store(info.Reused)
			c.wrote.Store(false)
			c.responded.Store(false)
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { c.wrote.Store(true) },
		GotFirstResponseByte: func() { c.responded.Store(true) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

// neverAccepted reports whether a request failed because the server never
// accepted its connection, which is how the closed listener of a graceful
// shutdown turns clients away:
//   - the dial fails (connection refused), or
//   - the dial succeeded into the kernel's accept queue, and closing the
//     listener reset the queued connection: on a fresh (not reused)
//     connection, the request fails with EOF, ECONNRESET or EPIPE before
//     any response byte arrives. net/http does not retry a request on a
//     fresh connection, so the client sees that error.
//
// A failure on a reused keep-alive connection, which the server did accept,
// or after the first response byte is a real failure.
func neverAccepted(err error, conn *connTrace) bool {
	if err == nil {
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	if !conn.got.Load() || conn.reused.Load() || conn.responded.Load() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
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
			if want := sig.String() + " signal received"; rec["reason"] != want {
				t.Errorf("stopping record %v, want reason %q", rec, want)
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

// startServe serves router on a listener it opens itself, so no other
// socket can take the port in between.
func startServe(t *testing.T, router http.Handler, logs *logSink, drain time.Duration) (string, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{Port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), Version: "dev"}
	logger := newLogger(logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveOn(ctx, ln, cfg, newServer(router, logger), logger, drain) }()
	logs.waitFor(t, 10*time.Second, msgIs("server started"))
	return "http://" + ln.Addr().String(), cancel, done
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

// failingCloseListener is a listener whose Close reports an error, as a
// Shutdown error other than the drain timeout.
type failingCloseListener struct{ net.Listener }

var errListenerClose = errors.New("closing the listener failed")

func (l failingCloseListener) Close() error {
	_ = l.Listener.Close()
	return errListenerClose
}

func TestShutdownReportsAnErrorThatIsNotTheDrainBound(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	logger := newLogger(logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveOn(ctx, failingCloseListener{ln}, config{Port: "8080", Version: "dev"}, newServer(newRouter(config{Version: "dev"}, logger), logger), logger, shutdownTimeout)
	}()
	logs.waitFor(t, 10*time.Second, msgIs("server started"))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, errListenerClose) || strings.Contains(err.Error(), "did not finish") {
			t.Errorf("serve returned %v, want the listener's close error and no claim about the drain bound", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	rec := logs.waitFor(t, 0, msgIs("shutdown failed, connections closed"))
	if rec["level"] != "ERROR" || rec["error"] != errListenerClose.Error() {
		t.Errorf("shutdown failure logged as %v, want ERROR with the close error", rec)
	}
	for _, rec := range logs.records(t) {
		if rec["msg"] == "drain incomplete, connections closed" {
			t.Errorf("a close error was logged as a drain timeout: %v", rec)
		}
	}
}

func TestNeverAcceptedSortsFailures(t *testing.T) {
	t.Parallel()
	client := func() *http.Client { return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}} }
	// getDuring starts a traced GET to addr, runs then once the request is
	// written, and returns the request's error.
	getDuring := func(t *testing.T, addr string, then func()) (*connTrace, error) {
		t.Helper()
		conn := &connTrace{}
		done := make(chan error, 1)
		go func() {
			resp, err := conn.get(client(), "http://"+addr+"/ping")
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		deadline := time.Now().Add(5 * time.Second)
		for !conn.wrote.Load() && time.Now().Before(deadline) {
			select {
			case err := <-done: // ended before the request was written
				t.Logf("request error: %v", err)
				return conn, err
			case <-time.After(time.Millisecond):
			}
		}
		then()
		select {
		case err := <-done:
			t.Logf("request error: %v", err)
			return conn, err
		case <-time.After(5 * time.Second):
			t.Fatal("the request did not end")
			return nil, nil
		}
	}

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		conn, err := getDuring(t, addr, func() {})
		if !neverAccepted(err, conn) {
			t.Errorf("a refused dial (%v) was not counted as never accepted", err)
		}
	})
	t.Run("reset in the accept queue", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepts
		if err != nil {
			t.Fatal(err)
		}
		conn, err := getDuring(t, ln.Addr().String(), func() { ln.Close() })
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) || !neverAccepted(err, conn) {
			t.Errorf("a queued connection reset by closing the listener (%v, reused %v, responded %v) was not counted as never accepted", err, conn.reused.Load(), conn.responded.Load())
		}
	})
	t.Run("reset after the first response byte", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Read(make([]byte, 4096))
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n") // headers unfinished
			time.Sleep(50 * time.Millisecond)
			_ = c.(*net.TCPConn).SetLinger(0) // close with a reset
			c.Close()
		}()
		conn, err := getDuring(t, ln.Addr().String(), func() {})
		if err == nil || !conn.responded.Load() || neverAccepted(err, conn) {
			t.Errorf("a connection the server accepted, answered in part and reset (%v, responded %v) was counted as never accepted", err, conn.responded.Load())
		}
	})
	t.Run("by trace", func(t *testing.T) {
		t.Parallel()
		trace := func(reused, responded bool) *connTrace {
			c := &connTrace{}
			c.got.Store(true)
			c.reused.Store(reused)
			c.responded.Store(responded)
			return c
		}
		reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
		cases := []struct {
			name string
			err  error
			conn *connTrace
			want bool
		}{
			{"fresh, reset", reset, trace(false, false), true},
			{"fresh, EOF", fmt.Errorf("wrapped: %w", io.EOF), trace(false, false), true},
			{"fresh, EPIPE", os.NewSyscallError("write", syscall.EPIPE), trace(false, false), true},
			{"reused, reset", reset, trace(true, false), false},
			{"reused, EOF", io.EOF, trace(true, false), false},
			{"fresh, reset after response bytes", reset, trace(false, true), false},
			{"fresh, timeout", os.ErrDeadlineExceeded, trace(false, false), false},
			{"no connection, EOF", io.EOF, &connTrace{}, false},
			{"success", nil, trace(false, true), false},
		}
		for _, c := range cases {
			if got := neverAccepted(c.err, c.conn); got != c.want {
				t.Errorf("%s: neverAccepted = %v, want %v", c.name, got, c.want)
			}
		}
	})
}
