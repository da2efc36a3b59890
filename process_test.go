package main

import (
	"errors"
	"fmt"
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
)

// These tests build the real binary the way the flake does and drive it as
// a process: real environment, real signals, real exit status.

const testVersion = "test-1.2.3"

var built struct {
	once sync.Once
	path string
	err  error
}

func serviceBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go not found in PATH: install Go to build the service binary")
		}
		t.Skip("go not found in PATH: skipping the tests that build and run the binary")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "flakeship-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "flakeship")
		cmd := exec.Command(goTool, "build", "-trimpath", "-tags", "nomsgpack",
			"-ldflags", "-s -w -X main.version="+testVersion, "-o", built.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("building the service: %v", built.err)
	}
	return built.path
}

type process struct {
	cmd            *exec.Cmd
	url            string
	stdout, stderr *logSink
	exited         chan error
}

func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	bin := serviceBinary(t)
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		p := &process{url: "http://127.0.0.1:" + port, stdout: &logSink{}, stderr: &logSink{}, exited: make(chan error, 1)}
		p.cmd = exec.Command(bin)
		p.cmd.Env = append([]string{"PORT=" + port}, env...)
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.exited <- p.cmd.Wait() }()
		t.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			if err := <-p.exited; err != nil {
				t.Logf("service process: %v", err)
			}
		})
		_, err := p.stdout.poll(t, 10*time.Second, msgIs("server started"), func() error {
			select {
			case err := <-p.exited:
				p.exited <- err // let Cleanup see it too
				return fmt.Errorf("the binary exited before it logged its start: %w; stderr %q", err, p.stderr.String())
			default:
				return nil
			}
		})
		if err == nil {
			return p
		}
		if attempt < startAttempts && portTaken(p.stderr.String()) {
			t.Logf("port %s was taken before the binary bound it; trying another", port)
			continue
		}
		t.Fatal(err)
	}
}

func TestProcessStopsGracefullyOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := startProcess(t)
			l := startLoad(p.url+"/ping", 16)
			l.waitForSuccesses(t, 500)
			start := time.Now()
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-p.exited:
				p.exited <- err
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Fatalf("process did not exit within %s of %s", shutdownTimeout, sig)
			}
			l.stop(t)
			if err != nil {
				t.Errorf("process exited with %v after %s, want status 0; stderr %q", err, sig, p.stderr.String())
			}
			if elapsed := time.Since(start); elapsed > shutdownTimeout {
				t.Errorf("exit took %s, beyond the %s drain bound", elapsed, shutdownTimeout)
			}
			recs := p.stdout.records(t)
			if last := recs[len(recs)-1]; last["msg"] != "server stopped" {
				t.Errorf("last log record %v, want server stopped", last)
			}
			if e := p.stderr.String(); e != "" {
				t.Errorf("stderr %q, want empty", e)
			}
		})
	}
}

func TestProcessReportsLinkedVersionAndEnvironment(t *testing.T) {
	t.Parallel()
	p := startProcess(t, "FLY_REGION=ams", "FLY_MACHINE_ID=148e21ea7e1389")
	got := do(t, http.DefaultClient, "GET", p.url+"/version", nil)
	want := `{"version":"` + testVersion + `","machine_id":"148e21ea7e1389","region":"ams"}`
	if got.status != 200 || got.body != want {
		t.Errorf("GET /version = %d %s, want 200 %s", got.status, got.body, want)
	}
	start := p.stdout.waitFor(t, 0, msgIs("server started"))
	if start["version"] != testVersion {
		t.Errorf("start record %v, want version %s", start, testVersion)
	}
	for _, line := range strings.Split(p.stdout.String()+p.stderr.String(), "\n") {
		if strings.Contains(line, "[GIN") || strings.Contains(line, "trusted all proxies") {
			t.Errorf("gin debug output in release mode: %q", line)
		}
	}
}

func TestProcessExitsOneOnBadPort(t *testing.T) {
	t.Parallel()
	bin := serviceBinary(t)
	for _, port := range []string{"0", "70000", "eighty"} {
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin)
		cmd.Env = []string{"PORT=" + port}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("PORT=%s: %v, want exit status 1", port, err)
		}
		line := stderr.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || !strings.Contains(line, `PORT "`+port+`"`) {
			t.Errorf("PORT=%s: stderr %q, want one line naming PORT and the value", port, line)
		}
		if stdout.Len() != 0 {
			t.Errorf("PORT=%s: stdout %q, want empty", port, stdout.String())
		}
	}
}

func TestProcessDebugModeKeepsJSONLines(t *testing.T) {
	t.Parallel()
	p := startProcess(t, "GIN_MODE=debug")
	if got := do(t, http.DefaultClient, "GET", p.url+"/ping", nil); got.status != 200 {
		t.Fatalf("GET /ping in debug mode: %d", got.status)
	}
	// records fails on any line that is not JSON, such as gin's text banner.
	route := p.stdout.waitFor(t, 5*time.Second, func(rec map[string]any) bool { return rec["msg"] == "route" && rec["path"] == "/ping" })
	if route["level"] != "DEBUG" || route["component"] != "gin" {
		t.Errorf("gin's route line %v, want a DEBUG record from component gin", route)
	}
	if e := p.stderr.String(); e != "" {
		t.Errorf("stderr %q, want empty", e)
	}
}

func TestProcessSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	p := startProcess(t)
	// A request whose headers never finish keeps the drain waiting.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /ping HTTP/1.1\r\nHost: test\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.stdout.waitFor(t, 5*time.Second, msgIs("server stopping"))
	select {
	case err := <-p.exited:
		t.Fatalf("process exited (%v) while a connection was still draining", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after a second SIGTERM the process ended with %v, want killed by SIGTERM", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a second SIGTERM did not end the process")
	}
}
