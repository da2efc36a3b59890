package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
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

func TestServiceStopsGracefullyOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			s := startService(t)
			l := startLoad(s.url+"/ping", 16)
			l.waitForSuccesses(t, 500)
			start := time.Now()
			s.signal(t, sig)
			err := s.wait(t)
			l.stop(t)
			if err != nil {
				t.Errorf("the service ended with %v after %s, want status 0; stderr %q", err, sig, s.stderr.String())
			}
			if elapsed := time.Since(start); elapsed > shutdownTimeout {
				t.Errorf("exit took %s, beyond the %s drain bound", elapsed, shutdownTimeout)
			}
			rec := s.stdout.waitFor(t, 0, msgIs("server stopping"))
			if want := sig.String() + " signal received"; rec["reason"] != want {
				t.Errorf("stopping record %v, want reason %q", rec, want)
			}
			recs := s.stdout.records(t)
			if last := recs[len(recs)-1]; last["msg"] != "server stopped" {
				t.Errorf("last log record %v, want server stopped", last)
			}
			if e := s.stderr.String(); e != "" {
				t.Errorf("stderr %q, want empty", e)
			}
		})
	}
}

// sendHeadersButTheEnd opens a connection to addr and sends a request whose
// headers never finish: the server has accepted the connection, so the
// drain waits for it (up to net/http's 5 s grace for unfinished headers).
func sendHeadersButTheEnd(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /ping HTTP/1.1\r\nHost: test\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server accept it
}

func TestServiceSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	s := startService(t)
	sendHeadersButTheEnd(t, s.addr)
	s.signal(t, syscall.SIGTERM)
	s.stdout.waitFor(t, 5*time.Second, msgIs("server stopping"))
	select {
	case <-s.exited:
		t.Fatalf("the service exited (%v) while a connection was still draining", s.err)
	case <-time.After(300 * time.Millisecond):
	}
	s.signal(t, syscall.SIGTERM)
	select {
	case <-s.exited:
		var exit *exec.ExitError
		if !errors.As(s.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after a second SIGTERM the service ended with %v, want killed by SIGTERM", s.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a second SIGTERM did not end the service")
	}
}

// waitUntilRefused waits until new connections to url are refused, as they
// are once the drain has closed the listener.
func waitUntilRefused(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener still accepting 5s after shutdown began (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingServer serves the production router plus /slow, which answers
// only when released, so a request can be held in flight across shutdown.
func blockingServer(t *testing.T, logs *logSink, wrap func(net.Listener) net.Listener) (*httptest.Server, chan struct{}, chan struct{}) {
	t.Helper()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	logger := newLogger(logs)
	r := newRouter(config{Version: "dev"}, logger)
	r.GET("/slow", func(c *gin.Context) {
		entered <- struct{}{}
		<-release
		ping(c)
	})
	ts := httptest.NewUnstartedServer(r)
	ts.Config = newServer(r, logger)
	ts.Listener = wrap(ts.Listener)
	ts.Start()
	// Serve registers the listener asynchronously: one answered request
	// means Shutdown will find it.
	if got := do(t, ts.Client(), "GET", ts.URL+"/ping", nil); got.status != http.StatusOK {
		t.Fatalf("GET /ping: %d", got.status)
	}
	return ts, entered, release
}

func noWrap(ln net.Listener) net.Listener { return ln }

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	ts, entered, release := blockingServer(t, logs, noWrap)
	defer ts.Close()

	slow := make(chan response, 1)
	go func() { slow <- do(t, http.DefaultClient, "GET", ts.URL+"/slow", nil) }()
	<-entered
	done := make(chan error, 1)
	go func() { done <- shutdown(ts.Config, shutdownTimeout, newLogger(logs)) }()

	waitUntilRefused(t, ts.URL)
	select {
	case err := <-done:
		t.Fatalf("shutdown returned %v while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if got := <-slow; got.status != 200 || got.body != `{"message":"pong"}` {
		t.Errorf("in-flight request got %d %q, want 200 pong", got.status, got.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown returned %v after the drain, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not return after the in-flight request finished")
	}
}

func TestShutdownDrainIsBounded(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	ts, entered, release := blockingServer(t, logs, noWrap)
	defer ts.Close()
	defer close(release)
	const drain = 300 * time.Millisecond

	go func() {
		resp, err := http.Get(ts.URL + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	start := time.Now()
	err := shutdown(ts.Config, drain, newLogger(logs))
	if err == nil || !strings.Contains(err.Error(), "did not finish within "+drain.String()) {
		t.Errorf("shutdown returned %v, want an error naming the %s drain bound", err, drain)
	}
	if elapsed := time.Since(start); elapsed > drain+2*time.Second {
		t.Errorf("shutdown took %s to give up, bound is %s", elapsed, drain)
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
	logs := &logSink{}
	ts, _, release := blockingServer(t, logs, func(ln net.Listener) net.Listener { return failingCloseListener{ln} })
	defer ts.Close()
	defer close(release)
	err := shutdown(ts.Config, shutdownTimeout, newLogger(logs))
	if !errors.Is(err, errListenerClose) || strings.Contains(err.Error(), "did not finish") {
		t.Errorf("shutdown returned %v, want the listener's close error and no claim about the drain bound", err)
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
