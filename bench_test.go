package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the router and middleware rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchmarkPing(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/ping", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkPing shows what the access log and recovery middleware cost on
// the hot path: go test -run '^$' -bench Ping -benchmem
func BenchmarkPing(b *testing.B) {
	b.Run("service router", func(b *testing.B) {
		benchmarkPing(b, newRouter(config{Version: "dev"}, newLogger(io.Discard)))
	})
	b.Run("without middleware", func(b *testing.B) {
		r := gin.New()
		r.GET("/ping", ping)
		benchmarkPing(b, r)
	})
	b.Run("gin.Logger to io.Discard", func(b *testing.B) {
		r := gin.New()
		r.Use(gin.LoggerWithWriter(io.Discard), gin.Recovery())
		r.GET("/ping", ping)
		benchmarkPing(b, r)
	})
}

func TestPingHotPathDoesNotAllocateInMiddleware(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are random under the race detector (sync.Pool drops items); run without -race")
	}
	r := newRouter(config{Version: "dev"}, newLogger(io.Discard))
	bare := gin.New()
	bare.GET("/ping", ping)
	req := httptest.NewRequest(http.MethodGet, "/ping", nil)
	w := &discardWriter{h: http.Header{}}
	measure := func(h http.Handler) float64 {
		return testing.AllocsPerRun(200, func() { clear(w.h); h.ServeHTTP(w, req) })
	}
	withMW, without := measure(r), measure(bare)
	if withMW > without {
		t.Errorf("the service router allocates %.1f times per /ping, the same handler without middleware %.1f: the middleware allocates on the hot path", withMW, without)
	}
}
