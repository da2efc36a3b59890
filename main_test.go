package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The tests in this file drive the real service: the process listening on
// a real port, spoken to over TCP (see startService).

func TestRunServesTheContract(t *testing.T) {
	t.Parallel()
	s := startService(t)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range contract {
		checkContract(t, c, do(t, client, c.method, s.url+c.path, nil))
	}
	get := do(t, client, "GET", s.url+"/ping", nil)
	if head := do(t, client, "HEAD", s.url+"/ping", nil); head.header.Get("Content-Length") != get.header.Get("Content-Length") {
		t.Errorf("HEAD /ping Content-Length %q, want %q like GET", head.header.Get("Content-Length"), get.header.Get("Content-Length"))
	}
	s.stop(t)
	if e := s.stderr.String(); e != "" {
		t.Errorf("stderr not empty: %q", e)
	}
	for _, line := range strings.Split(s.stdout.String(), "\n") {
		if strings.Contains(line, "[GIN") || strings.Contains(line, "trusted all proxies") {
			t.Errorf("gin debug output in release mode: %q", line)
		}
	}
}

func TestRunLogsStartAndStopAsJSON(t *testing.T) {
	t.Parallel()
	s := startService(t)
	s.stop(t)
	recs := s.stdout.records(t) // fails on any non-JSON line, e.g. a gin debug banner
	if len(recs) != 3 {
		t.Fatalf("want 3 records (started, stopping, stopped), got:\n%s", s.stdout.String())
	}
	start := recs[0]
	if start["msg"] != "server started" || start["address"] != "0.0.0.0:"+s.port || start["version"] != version || start["level"] != "INFO" {
		t.Errorf("start record %v, want server started on 0.0.0.0:%s version %s", start, s.port, version)
	}
	if recs[1]["msg"] != "server stopping" || recs[1]["drain_timeout"] != shutdownTimeout.String() {
		t.Errorf("stopping record %v, want drain_timeout %s", recs[1], shutdownTimeout)
	}
	if recs[2]["msg"] != "server stopped" {
		t.Errorf("last record %v, want server stopped", recs[2])
	}
	for _, rec := range recs {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(rec["time"])); err != nil {
			t.Errorf("record %v has no RFC 3339 time: %v", rec, err)
		}
	}
}

func TestRunVersionReflectsEnvironment(t *testing.T) {
	t.Parallel()
	const imageRef = "registry.fly.io/example:git-0123456789abcdef0123456789abcdef01234567"
	s := startService(t, "FLY_IMAGE_REF="+imageRef, "FLY_MACHINE_ID=148e21ea7e1389", "FLY_REGION=ams")
	got := do(t, http.DefaultClient, "GET", s.url+"/version", nil)
	want := `{"version":"` + version + `","image_ref":"` + imageRef + `","machine_id":"148e21ea7e1389","region":"ams"}`
	if got.status != 200 || got.body != want {
		t.Errorf("GET /version = %d %s, want 200 %s", got.status, got.body, want)
	}
}

func TestRunRejectsBadPort(t *testing.T) {
	t.Parallel()
	for _, port := range []string{"0", "65536", "99999", "-1", "+80", " 80", "80 ", "http", "8080\nX", "0x50", "1e3"} {
		stdout, stderr := &logSink{}, &logSink{}
		err := run(t.Context(), []string{"app"}, envFunc(map[string]string{"PORT": port}), stdout, stderr)
		if err == nil {
			t.Errorf("PORT=%q: run returned nil, want an error", port)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if len(lines) != 1 || !strings.HasSuffix(stderr.String(), "\n") {
			t.Errorf("PORT=%q: stderr %q, want exactly one line", port, stderr.String())
			continue
		}
		quoted := fmt.Sprintf("%q", port)
		if !strings.Contains(lines[0], "PORT") || !strings.Contains(lines[0], quoted) || !strings.Contains(lines[0], "1 to 65535") {
			t.Errorf("PORT=%q: stderr line %q must name PORT, the value %s and the valid range", port, lines[0], quoted)
		}
		if stdout.String() != "" {
			t.Errorf("PORT=%q: stdout %q, want nothing", port, stdout.String())
		}
	}
}

func TestRunReportsAPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	stdout, stderr := &logSink{}, &logSink{}
	err = run(t.Context(), []string{"app"}, envFunc(map[string]string{"PORT": port}), stdout, stderr)
	if err == nil {
		t.Fatal("run returned nil on a port in use")
	}
	if got := stderr.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, port) || !strings.Contains(got, "PORT") {
		t.Errorf("stderr %q, want one line naming the port and PORT", got)
	}
	if rec := stdout.waitFor(t, 0, msgIs("listen failed")); rec["level"] != "ERROR" {
		t.Errorf("listen failure logged as %v, want ERROR", rec)
	}
}

func TestRunRejectsBadGinModeAndArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		env  map[string]string
		want []string // all in the one stderr line
	}{
		{[]string{"app"}, map[string]string{"GIN_MODE": "production"}, []string{`invalid GIN_MODE "production"`}},
		{[]string{"app", "serve"}, nil, []string{`unexpected argument "serve"`, "PORT"}},
		{[]string{"app", "-port", "1"}, nil, []string{"-port", "takes no flags", "PORT", "app -h"}},
		{[]string{"app", "--verbose"}, nil, []string{"-verbose", "takes no flags", "PORT"}},
	}
	for _, c := range cases {
		stderr := &logSink{}
		if err := run(t.Context(), c.args, envFunc(c.env), io.Discard, stderr); err == nil {
			t.Errorf("%v %v: run returned nil, want an error", c.args, c.env)
		}
		got := stderr.String()
		if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
			t.Errorf("%v %v: stderr %q, want exactly one line", c.args, c.env, got)
		}
		for _, want := range c.want {
			if !strings.Contains(got, want) {
				t.Errorf("%v %v: stderr %q, want it to contain %q", c.args, c.env, got, want)
			}
		}
	}
	for _, help := range []string{"-h", "-help", "--help"} {
		stderr := &logSink{}
		if err := run(t.Context(), []string{"app", help}, envFunc(nil), io.Discard, stderr); err != nil {
			t.Errorf("%s: run returned %v, want nil", help, err)
		}
		got := stderr.String()
		if strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "usage: app ") || !strings.Contains(got, "PORT") {
			t.Errorf("%s printed %q, want only a usage line naming PORT", help, got)
		}
	}
}

func TestRunNormalisesPortWithLeadingZeros(t *testing.T) {
	t.Parallel()
	s := startServiceWithPort(t, func(port string) string { return "00" + port })
	port := s.port
	start := s.stdout.waitFor(t, 0, msgIs("server started"))
	if start["address"] != "0.0.0.0:"+port {
		t.Errorf("PORT=00%s: start record %v, want address 0.0.0.0:%s", port, start, port)
	}
	if got := do(t, http.DefaultClient, "GET", s.url+"/ping", nil); got.status != 200 {
		t.Errorf("GET /ping on port %s: %d, want 200", port, got.status)
	}
}

func TestLoadConfigPort(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{"": defaultPort, "80": "80", "0080": "80", "08080": "8080", "65535": "65535", "000001": "1"} {
		cfg, err := loadConfig(nil, envFunc(map[string]string{"PORT": env}), io.Discard)
		if err != nil || cfg.Port != want || cfg.listenAddr() != "0.0.0.0:"+want {
			t.Errorf("PORT=%q: port %q, address %q, error %v; want %q", env, cfg.Port, cfg.listenAddr(), err, want)
		}
	}
}

func TestRunCutsOffSlowHeaders(t *testing.T) {
	t.Parallel()
	s := startService(t)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// Headers never finish: no blank line.
	if _, err := io.WriteString(conn, "GET /ping HTTP/1.1\r\nHost: test\r\nX-Slow: 1\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(readHeaderTimeout + 5*time.Second))
	rest, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("connection was not closed by the server within %s: %v", readHeaderTimeout+5*time.Second, err)
	}
	if strings.Contains(string(rest), "200 OK") {
		t.Errorf("incomplete request got a 200: %q", rest)
	}
	if elapsed < readHeaderTimeout-time.Second || elapsed > readHeaderTimeout+3*time.Second {
		t.Errorf("connection closed after %s, want about ReadHeaderTimeout (%s)", elapsed, readHeaderTimeout)
	}
	// A normal client still gets served.
	if got := do(t, http.DefaultClient, "GET", s.url+"/ping", nil); got.status != 200 {
		t.Errorf("after the slow client, /ping gave %d", got.status)
	}
}

func TestRunRejectsOversizeHeaders(t *testing.T) {
	t.Parallel()
	s := startService(t)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := strings.Repeat("a", 2*maxHeaderBytes)
	if _, err := fmt.Fprintf(conn, "GET /ping HTTP/1.1\r\nHost: test\r\nX-Big: %s\r\n\r\n", big); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response to oversize headers: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversize headers: status %d, want 431", resp.StatusCode)
	}
	// Headers just under the limit are fine.
	ok := http.Header{"X-Ok": {strings.Repeat("a", maxHeaderBytes/2)}}
	if got := do(t, http.DefaultClient, "GET", s.url+"/ping", ok); got.status != 200 {
		t.Errorf("headers of %d bytes: status %d, want 200", maxHeaderBytes/2, got.status)
	}
}

// clientIPFromLog makes a request that gets a 404, which the access log
// records with the client IP the service derived.
func clientIPFromLog(t *testing.T, s *service, path string, header http.Header) string {
	t.Helper()
	if got := do(t, http.DefaultClient, "GET", s.url+path, header); got.status != 404 {
		t.Fatalf("GET %s: %d, want 404", path, got.status)
	}
	rec := s.stdout.waitFor(t, 5*time.Second, func(rec map[string]any) bool { return rec["msg"] == "request" && rec["path"] == path })
	ip, _ := rec["client_ip"].(string)
	return ip
}

func TestRunClientIP(t *testing.T) {
	t.Parallel()
	spoofed := http.Header{
		"X-Forwarded-For": {"198.51.100.9"},
		"X-Real-Ip":       {"198.51.100.10"},
	}
	withFly := http.Header{
		"Fly-Client-Ip":   {"203.0.113.7"},
		"X-Forwarded-For": {"198.51.100.9, 203.0.113.7"},
	}
	t.Run("on Fly", func(t *testing.T) {
		t.Parallel()
		s := startService(t, "FLY_MACHINE_ID=148e21ea7e1389")
		if ip := clientIPFromLog(t, s, "/fly-header", withFly); ip != "203.0.113.7" {
			t.Errorf("with Fly-Client-IP: client_ip %q, want 203.0.113.7", ip)
		}
		if ip := clientIPFromLog(t, s, "/no-fly-header", spoofed); ip != "127.0.0.1" {
			t.Errorf("without Fly-Client-IP, spoofed X-Forwarded-For: client_ip %q, want the socket address 127.0.0.1", ip)
		}
	})
	t.Run("off Fly", func(t *testing.T) {
		t.Parallel()
		s := startService(t)
		if ip := clientIPFromLog(t, s, "/fly-header", withFly); ip != "127.0.0.1" {
			t.Errorf("off Fly a Fly-Client-IP header is just a client's claim: client_ip %q, want 127.0.0.1", ip)
		}
		if ip := clientIPFromLog(t, s, "/spoofed", spoofed); ip != "127.0.0.1" {
			t.Errorf("spoofed X-Forwarded-For: client_ip %q, want 127.0.0.1", ip)
		}
	})
}

func TestRunLogsNoPingSuccess(t *testing.T) {
	t.Parallel()
	s := startService(t)
	for range 100 {
		do(t, http.DefaultClient, "GET", s.url+"/ping", nil)
	}
	do(t, http.DefaultClient, "GET", s.url+"/marker", nil)
	s.stdout.waitFor(t, 5*time.Second, func(rec map[string]any) bool { return rec["path"] == "/marker" })
	for _, rec := range s.stdout.records(t) {
		if rec["path"] == "/ping" {
			t.Errorf("a /ping success was logged: %v", rec)
		}
	}
	if n := len(s.stdout.records(t)); n != 2 {
		t.Errorf("want 2 records (start, /marker 404), got %d:\n%s", n, s.stdout.String())
	}
}

func TestServiceExitsOneOnBadPort(t *testing.T) {
	t.Parallel()
	for _, port := range []string{"0", "70000", "eighty"} {
		var stdout, stderr strings.Builder
		cmd := serviceCommand(t, "PORT="+port)
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

func TestServiceDebugModeKeepsJSONLines(t *testing.T) {
	t.Parallel()
	s := startService(t, "GIN_MODE=debug")
	if got := do(t, http.DefaultClient, "GET", s.url+"/ping", nil); got.status != 200 {
		t.Fatalf("GET /ping in debug mode: %d", got.status)
	}
	// records fails on any line that is not JSON, such as gin's text banner.
	route := s.stdout.waitFor(t, 5*time.Second, func(rec map[string]any) bool { return rec["msg"] == "route" && rec["path"] == "/ping" })
	if route["level"] != "DEBUG" || route["component"] != "gin" {
		t.Errorf("gin's route line %v, want a DEBUG record from component gin", route)
	}
	if e := s.stderr.String(); e != "" {
		t.Errorf("stderr %q, want empty", e)
	}
}
