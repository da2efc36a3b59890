package image

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// portFree reports whether port can be listened on by anyone on this host.
func portFree(port string) bool {
	ln, err := net.Listen("tcp", "0.0.0.0:"+port)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// runningService is a started service process and its output.
type runningService struct {
	cmd    *exec.Cmd
	base   string
	output *syncBuffer
	exited chan error
}

// startService starts cmd (which runs the service listening on port) and
// waits until it answers at path (any status); the process is killed when
// the test ends.
func startService(t *testing.T, cmd *exec.Cmd, port, path string) *runningService {
	t.Helper()
	s := &runningService{cmd: cmd, base: "http://127.0.0.1:" + port, output: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.output, s.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", cmd.Args, err)
	}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		exit := <-s.exited // tests that care about the exit status have read it already
		if t.Failed() {
			t.Logf("service output (%v):\n%s", exit, s.output.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("%v exited before serving: %v\n%s", cmd.Args, err, s.output.String())
		default:
		}
		if resp, err := http.Get(s.base + path); err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not answer on port %s within 15s\n%s", cmd.Args, port, s.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *runningService) request(t *testing.T, method, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fly's checks do not follow redirects; neither does this client.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
