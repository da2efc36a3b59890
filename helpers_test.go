package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestMain(m *testing.M) {
	// Router-level tests build engines without run(); keep gin quiet.
	gin.SetMode(gin.TestMode)
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

// logSink collects what the service writes, safe for concurrent writers.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// records parses every line as a JSON object; a line that is not one fails
// the test, because the service promises JSON lines on stdout.
func (s *logSink) records(t *testing.T) []map[string]any {
	t.Helper()
	return parseLogLines(t, s.String())
}

func parseLogLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not a JSON object: %q: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	return out
}

// waitFor polls until a record matches or the timeout passes.
func (s *logSink) waitFor(t *testing.T, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	rec, err := s.poll(t, timeout, match, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// poll polls until a record matches, the timeout passes, or gaveUp returns
// an error, such as the service exiting before it logs the record.
func (s *logSink) poll(t *testing.T, timeout time.Duration, match func(map[string]any) bool, gaveUp func() error) (map[string]any, error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, rec := range s.records(t) {
			if match(rec) {
				return rec, nil
			}
		}
		if err := gaveUp(); err != nil {
			return nil, fmt.Errorf("%w; logs:\n%s", err, s.String())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no matching log record within %s; logs:\n%s", timeout, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newLogger is the service's JSON logger at its default level.
func newLogger(w io.Writer) *slog.Logger {
	return newLeveledLogger(w, slog.LevelInfo)
}

func msgIs(msg string) func(map[string]any) bool {
	return func(rec map[string]any) bool { return rec["msg"] == msg }
}

// freePort asks the kernel for a free port. PORT must be 1-65535, so the
// service cannot be given port 0. The port is free only until the probe
// closes: another socket (a test client's ephemeral port, another process)
// can take it before the service binds it, so starters retry on that one
// error (see portTaken).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// portTaken reports whether a service failed to start only because the port
// freePort chose was taken in the meantime.
func portTaken(stderr string) bool { return strings.Contains(stderr, "address already in use") }

const startAttempts = 5

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// runningService is run() serving on a real port.
type runningService struct {
	url    string
	addr   string
	stdout *logSink
	stderr *logSink
	cancel context.CancelFunc
	done   chan error
}

// startRun starts run() with env (PORT is added) and waits until it logs
// that it started.
func startRun(t *testing.T, env map[string]string) *runningService {
	t.Helper()
	return startRunOnPort(t, env, func(port string) string { return port })
}

// startRunOnPort is startRun with PORT set to portValue(a free port).
func startRunOnPort(t *testing.T, env map[string]string, portValue func(string) string) *runningService {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		full := map[string]string{"PORT": portValue(port)}
		for k, v := range env {
			full[k] = v
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &runningService{
			addr:   "127.0.0.1:" + port,
			url:    "http://127.0.0.1:" + port,
			stdout: &logSink{},
			stderr: &logSink{},
			cancel: cancel,
			done:   make(chan error, 1),
		}
		go func() { s.done <- run(ctx, []string{"flakeship"}, envFunc(full), s.stdout, s.stderr) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-s.done:
				if err != nil {
					t.Logf("run returned: %v", err)
				}
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Errorf("run did not return after its context was cancelled")
			}
		})
		_, err := s.stdout.poll(t, 10*time.Second, msgIs("server started"), func() error {
			select {
			case err := <-s.done:
				s.done <- err // let Cleanup see it too
				return fmt.Errorf("run returned before serving: %w; stderr: %s", err, s.stderr.String())
			default:
				return nil
			}
		})
		if err == nil {
			return s
		}
		if attempt < startAttempts && portTaken(s.stderr.String()) {
			t.Logf("port %s was taken before run bound it; trying another", port)
			continue
		}
		t.Fatal(err)
	}
}

// stop cancels run's context and returns what run returned.
func (s *runningService) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // let Cleanup see it too
		return err
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("run did not return after cancel")
		return nil
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, client *http.Client, method, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, url, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}
