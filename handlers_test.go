package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// jsonContentType is what gin's c.JSON sends.
const jsonContentType = "application/json; charset=utf-8"

// contractCase is one request of the service contract and the exact
// response it must get.
type contractCase struct {
	method, path string
	status       int
	body         string // exact; empty for HEAD
	allow        string // exact Allow header on 405
}

var contract = []contractCase{
	{method: "GET", path: "/ping", status: 200, body: `{"message":"pong"}`},
	{method: "HEAD", path: "/ping", status: 200},
	{method: "GET", path: "/version", status: 200, body: `{"version":"dev"}`},
	{method: "HEAD", path: "/version", status: 200},
	{method: "GET", path: "/nope", status: 404, body: `{"error":"not found"}`},
	{method: "GET", path: "/ping/", status: 404, body: `{"error":"not found"}`},
	{method: "GET", path: "/", status: 404, body: `{"error":"not found"}`},
	{method: "HEAD", path: "/nope", status: 404},
	{method: "POST", path: "/ping", status: 405, body: `{"error":"method not allowed"}`, allow: "GET, HEAD"},
	{method: "PUT", path: "/version", status: 405, body: `{"error":"method not allowed"}`, allow: "GET, HEAD"},
	{method: "DELETE", path: "/ping", status: 405, body: `{"error":"method not allowed"}`, allow: "GET, HEAD"},
	{method: "OPTIONS", path: "/ping", status: 405, body: `{"error":"method not allowed"}`, allow: "GET, HEAD"},
	{method: "POST", path: "/nope", status: 404, body: `{"error":"not found"}`},
}

func checkContract(t *testing.T, c contractCase, got response) {
	t.Helper()
	if got.status != c.status {
		t.Errorf("%s %s: status %d, want %d (body %q)", c.method, c.path, got.status, c.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != jsonContentType {
		t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.path, ct, jsonContentType)
	}
	if got.body != c.body {
		t.Errorf("%s %s: body %q, want %q", c.method, c.path, got.body, c.body)
	}
	if allow := got.header.Get("Allow"); allow != c.allow {
		t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, allow, c.allow)
	}
}

func serveRecorded(h http.Handler, method, path string, header http.Header) response {
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if method == http.MethodHead {
		body = "" // net/http drops a HEAD body on the wire; the recorder keeps it
	}
	return response{status: rec.Code, header: rec.Header(), body: body}
}

func TestRouterContract(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	for _, c := range contract {
		checkContract(t, c, serveRecorded(r, c.method, c.path, nil))
	}
}

func TestVersionBody(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		want map[string]string
	}{
		{"off Fly", config{Version: "v1.2.3"}, map[string]string{"version": "v1.2.3"}},
		{"on Fly", config{
			Version:      "git-0123456789abcdef0123456789abcdef01234567",
			FlyImageRef:  "registry.fly.io/example-app:git-0123456789abcdef0123456789abcdef01234567",
			FlyMachineID: "148e21ea7e1389",
			FlyRegion:    "ams",
		}, map[string]string{
			"version":    "git-0123456789abcdef0123456789abcdef01234567",
			"image_ref":  "registry.fly.io/example-app:git-0123456789abcdef0123456789abcdef01234567",
			"machine_id": "148e21ea7e1389",
			"region":     "ams",
		}},
		{"region only", config{Version: "dev", FlyRegion: "fra"}, map[string]string{"version": "dev", "region": "fra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serveRecorded(newRouter(tt.cfg, newLogger(io.Discard)), "GET", "/version", nil)
			if got.status != 200 {
				t.Fatalf("status %d, want 200", got.status)
			}
			var body map[string]string
			if err := json.Unmarshal([]byte(got.body), &body); err != nil {
				t.Fatalf("body %q is not a JSON object of strings: %v", got.body, err)
			}
			if len(body) != len(tt.want) {
				t.Errorf("body %v, want exactly the keys of %v", body, tt.want)
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %q, want %q", k, body[k], v)
				}
			}
		})
	}
}

func TestHandlerPanicGives500AndServerKeepsServing(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	r.GET("/boom", func(*gin.Context) { panic("kaboom") })
	srv := httptest.NewServer(r)
	defer srv.Close()

	got := do(t, srv.Client(), "GET", srv.URL+"/boom", nil)
	if got.status != 500 || got.body != `{"error":"internal server error"}` || got.header.Get("Content-Type") != jsonContentType {
		t.Errorf("panic: got %d %q %q, want 500 JSON error", got.status, got.header.Get("Content-Type"), got.body)
	}
	if got := do(t, srv.Client(), "GET", srv.URL+"/ping", nil); got.status != 200 || got.body != `{"message":"pong"}` {
		t.Errorf("after a panic /ping gave %d %q, want 200 pong", got.status, got.body)
	}
	rec := logs.waitFor(t, 0, msgIs("handler panic"))
	stack, _ := rec["stack"].(string)
	if rec["level"] != "ERROR" || rec["panic"] != "kaboom" || rec["path"] != "/boom" || !strings.Contains(stack, "handlers_test.go") {
		t.Errorf("panic log record %v lacks level ERROR, panic, path or a stack naming the handler", rec)
	}
	access := logs.waitFor(t, 0, func(rec map[string]any) bool { return rec["msg"] == "request" && rec["path"] == "/boom" })
	if access["status"] != float64(500) || access["level"] != "ERROR" {
		t.Errorf("access log for the panic: %v, want status 500 at ERROR", access)
	}
}

func TestPanicDropsHeadersTheHandlerSet(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	r.GET("/boom", func(c *gin.Context) {
		c.Header("Content-Length", "1000")
		c.Header("Content-Encoding", "gzip")
		c.Header("X-Partial", "yes")
		panic("kaboom")
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	got := do(t, srv.Client(), "GET", srv.URL+"/boom", nil)
	want := `{"error":"internal server error"}`
	if got.status != 500 || got.body != want || got.header.Get("Content-Type") != jsonContentType {
		t.Errorf("panic: got %d %q %q, want 500 JSON error", got.status, got.header.Get("Content-Type"), got.body)
	}
	for _, h := range []string{"Content-Encoding", "X-Partial"} {
		if v := got.header.Get(h); v != "" {
			t.Errorf("the 500 kept the handler's %s: %q", h, v)
		}
	}
	if cl := got.header.Get("Content-Length"); cl != "33" || len(want) != 33 {
		t.Errorf("the 500 has Content-Length %q, want the error body's 33", cl)
	}
}

func TestPanicAfterTheResponseStartedBreaksTheConnection(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	r.GET("/half", func(c *gin.Context) {
		c.Header("Content-Type", jsonContentType)
		c.Status(http.StatusOK)
		_, _ = c.Writer.WriteString(`{"items":[1,2`)
		c.Writer.Flush() // chunked: the client has the status and the first bytes
		panic("kaboom")
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/half")
	if err != nil {
		t.Fatalf("GET /half: %v, want the started 200", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("GET /half: status %d, body %q, read error %v; want 200 and a body cut off with io.ErrUnexpectedEOF, not a clean end", resp.StatusCode, body, err)
	}
	rec := logs.waitFor(t, 0, msgIs("handler panic"))
	if rec["level"] != "ERROR" || rec["panic"] != "kaboom" || rec["path"] != "/half" || rec["response_started"] != true {
		t.Errorf("panic log record %v, want ERROR with panic, path and response_started true", rec)
	}
	if got := do(t, srv.Client(), "GET", srv.URL+"/ping", nil); got.status != 200 || got.body != `{"message":"pong"}` {
		t.Errorf("after the aborted response /ping gave %d %q, want 200 pong", got.status, got.body)
	}
}

func TestAbortHandlerPanicAbortsTheResponse(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	r.GET("/abort", func(*gin.Context) { panic(http.ErrAbortHandler) })
	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/abort")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("http.ErrAbortHandler gave a response (%d); want the connection aborted", resp.StatusCode)
	}
	for _, rec := range logs.records(t) {
		if rec["msg"] == "handler panic" {
			t.Errorf("http.ErrAbortHandler was logged as a panic: %v", rec)
		}
	}
}

func TestPingSuccessIsNotLoggedButErrorsAre(t *testing.T) {
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	for range 50 {
		serveRecorded(r, "GET", "/ping", nil)
		serveRecorded(r, "HEAD", "/ping", nil)
		serveRecorded(r, "GET", "/version", nil)
	}
	if s := logs.String(); s != "" {
		t.Fatalf("successful requests were logged:\n%s", s)
	}
	serveRecorded(r, "GET", "/missing", nil)
	serveRecorded(r, "POST", "/ping", nil)
	recs := logs.records(t)
	if len(recs) != 2 {
		t.Fatalf("want one record per 4xx, got %d:\n%s", len(recs), logs.String())
	}
	for i, want := range []struct {
		method, path string
		status       float64
	}{{"GET", "/missing", 404}, {"POST", "/ping", 405}} {
		rec := recs[i]
		if rec["msg"] != "request" || rec["level"] != "INFO" || rec["method"] != want.method || rec["path"] != want.path || rec["status"] != want.status {
			t.Errorf("record %d = %v, want INFO request %s %s %v", i, rec, want.method, want.path, want.status)
		}
		if _, ok := rec["duration_ms"].(float64); !ok {
			t.Errorf("record %d has no duration_ms: %v", i, rec)
		}
		if rec["client_ip"] != "192.0.2.1" { // httptest.NewRequest's RemoteAddr
			t.Errorf("record %d client_ip = %v, want 192.0.2.1", i, rec["client_ip"])
		}
	}
}

func TestSlowSuccessIsLogged(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	r := newRouter(config{Version: "dev"}, newLogger(logs))
	r.GET("/slow", func(c *gin.Context) {
		time.Sleep(slowRequest + 50*time.Millisecond)
		ping(c)
	})
	if got := serveRecorded(r, "GET", "/slow", nil); got.status != 200 {
		t.Fatalf("status %d", got.status)
	}
	rec := logs.waitFor(t, 0, func(rec map[string]any) bool { return rec["path"] == "/slow" })
	if rec["level"] != "WARN" || rec["status"] != float64(200) {
		t.Errorf("slow request record %v, want WARN with status 200", rec)
	}
	if d, _ := rec["duration_ms"].(float64); d < float64(slowRequest.Milliseconds()) {
		t.Errorf("duration_ms %v, want at least %d", rec["duration_ms"], slowRequest.Milliseconds())
	}
}
