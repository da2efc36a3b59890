package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRouter sends arbitrary methods, paths and headers through the
// production router. Inputs are parsed by net/http's own request reader, so
// only requests the real server could receive reach the router. Whatever
// arrives, the answer is a JSON 200, 404 or 405 (with Allow), never a 5xx or
// a crash.
func FuzzRouter(f *testing.F) {
	seeds := []struct {
		method, path, name, value string
		onFly                     bool
	}{
		{"GET", "/ping", "Accept", "*/*", false},
		{"HEAD", "/ping", "X-Forwarded-For", "198.51.100.9", true},
		{"GET", "/version", "Fly-Client-Ip", "203.0.113.7", true},
		{"GET", "/version", "Fly-Client-Ip", "not-an-ip", true},
		{"POST", "/ping", "Content-Length", "0", false},
		{"OPTIONS", "*", "Origin", "http://example.com", false},
		{"GET", "/ping/", "X-Forwarded-Prefix", "//evil.example", false},
		{"GET", "//ping", "X-Real-Ip", "::1", true},
		{"GET", "/%2e%2e/ping", "Cookie", "a=b", false},
		{"PROPFIND", "/version?x=1", "Depth", "1", false},
		{"GET", "/ping/../version", "X-Forwarded-For", "1.1.1.1, 2.2.2.2", true},
		{"CONNECT", "example.com:443", "Proxy-Authorization", "Basic eDp5", false},
		{"GET", "/:id", "Accept-Encoding", "gzip", false},
		{"get", "/ping", "Connection", "close", false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.name, s.value, s.onFly)
	}
	routers := map[bool]http.Handler{
		false: newRouter(config{Version: "dev"}, newLogger(io.Discard)),
		true:  newRouter(config{Version: "dev", FlyMachineID: "148e21ea7e1389"}, newLogger(io.Discard)),
	}
	f.Fuzz(func(t *testing.T, method, path, name, value string, onFly bool) {
		raw := method + " " + path + " HTTP/1.1\r\nHost: fuzz.test\r\n" + name + ": " + value + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Skip("net/http would reject this request before any handler")
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		routers[onFly].ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusOK, http.StatusNotFound:
		case http.StatusMethodNotAllowed:
			if rec.Header().Get("Allow") == "" {
				t.Errorf("405 without Allow for %q", raw)
			}
		default:
			t.Errorf("status %d for %q, want 200, 404 or 405; body %q", rec.Code, raw, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != jsonContentType {
			t.Errorf("Content-Type %q for %q, want %q", ct, raw, jsonContentType)
		}
	})
}
