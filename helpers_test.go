package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// asService is set in the environment of a test binary that is to be the
// service: TestMain then runs main instead of the tests, so process-level
// tests run the real program (environment, signals, exit status) without
// building it.
const asService = "TEST_RUN_AS_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(asService) == "1" {
		main()
		os.Exit(0)
	}
	// Router-level tests build engines without run(); keep gin quiet.
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// serviceCommand is this test binary run as the service with env, and no
// arguments (the service takes none). GOCOVERDIR passes through for go test
// -cover.
func serviceCommand(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append([]string{asService + "=1", "GOCOVERDIR=" + os.Getenv("GOCOVERDIR")}, env...)
	return cmd
}

// service is the service running as a process and serving on a real
// loopback port.
type service struct {
	url, addr, port string
	cmd             *exec.Cmd
	stdout, stderr  *logSink
	exited          chan struct{} // closed once the process has exited
	err             error         // cmd.Wait's, once exited is closed
}

// startService starts the service with env (PORT is added) and waits until
// it logs that it started. It is killed when the test ends.
func startService(t *testing.T, env ...string) *service {
	t.Helper()
	return startServiceWithPort(t, func(port string) string { return port }, env...)
}

const startAttempts = 5

// startServiceWithPort is startService with PORT set to portValue(a free
// port). The port is free only until the probe closes: another socket can
// take it before the service binds it, so a start that fails on that alone
// is retried on another port.
func startServiceWithPort(t *testing.T, portValue func(string) string, env ...string) *service {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		s := &service{
			url: "http://127.0.0.1:" + port, addr: "127.0.0.1:" + port, port: port,
			stdout: &logSink{}, stderr: &logSink{}, exited: make(chan struct{}),
		}
		s.cmd = serviceCommand(t, append([]string{"PORT=" + portValue(port)}, env...)...)
		s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.err = s.cmd.Wait(); close(s.exited) }()
		t.Cleanup(func() {
			_ = s.cmd.Process.Kill()
			<-s.exited
		})
		_, err := s.stdout.poll(t, 10*time.Second, msgIs("server started"), func() error {
			select {
			case <-s.exited:
				return fmt.Errorf("the service exited before it logged its start: %w; stderr %q", s.err, s.stderr.String())
			default:
				return nil
			}
		})
		if err == nil {
			return s
		}
		if attempt < startAttempts && strings.Contains(s.stderr.String(), "address already in use") {
			t.Logf("port %s was taken before the service bound it; trying another", port)
			continue
		}
		t.Fatal(err)
	}
}

func (s *service) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait returns how the process ended, failing the test if it runs on for
// longer than the drain bound and some slack.
func (s *service) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.exited:
		return s.err
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("the service did not exit within %s", shutdownTimeout+5*time.Second)
		return nil
	}
}

// stop sends SIGTERM and fails the test unless the service exits with
// status 0.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.signal(t, syscall.SIGTERM)
	if err := s.wait(t); err != nil {
		t.Fatalf("after SIGTERM the service ended with %v, want status 0; stderr %q", err, s.stderr.String())
	}
}

// freePort asks the kernel for a free port. PORT must be 1-65535, so the
// service cannot be given port 0.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
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
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
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

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
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
