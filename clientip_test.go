package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// ipRouter is the production router plus a route that echoes the client IP
// gin derives, served over a real socket so RemoteAddr is the peer's.
func ipRouter(t *testing.T, cfg config) string {
	t.Helper()
	r := newRouter(cfg, newLogger(io.Discard))
	r.GET("/ip", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL + "/ip"
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	onFly := config{Version: "dev", FlyMachineID: "148e21ea7e1389"}
	offFly := config{Version: "dev"}
	tests := []struct {
		name   string
		cfg    config
		header http.Header
		want   string
	}{
		{"on Fly, proxy header", onFly, http.Header{"Fly-Client-Ip": {"203.0.113.7"}}, "203.0.113.7"},
		{"on Fly, proxy header wins over X-Forwarded-For", onFly, http.Header{"Fly-Client-Ip": {"2001:db8::7"}, "X-Forwarded-For": {"198.51.100.9"}}, "2001:db8::7"},
		{"on Fly, no proxy header (private network)", onFly, nil, "127.0.0.1"},
		{"on Fly, spoofed X-Forwarded-For", onFly, http.Header{"X-Forwarded-For": {"198.51.100.9"}}, "127.0.0.1"},
		{"on Fly, spoofed X-Real-IP", onFly, http.Header{"X-Real-Ip": {"198.51.100.9"}}, "127.0.0.1"},
		{"off Fly, socket address", offFly, nil, "127.0.0.1"},
		{"off Fly, Fly-Client-IP ignored", offFly, http.Header{"Fly-Client-Ip": {"203.0.113.7"}}, "127.0.0.1"},
		{"off Fly, spoofed X-Forwarded-For", offFly, http.Header{"X-Forwarded-For": {"198.51.100.9, 10.0.0.1"}}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := ipRouter(t, tt.cfg)
			if got := do(t, http.DefaultClient, "GET", url, tt.header); got.body != tt.want {
				t.Errorf("client IP %q, want %q", got.body, tt.want)
			}
		})
	}
}
