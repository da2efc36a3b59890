package main

import (
	"bufio"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	h := &histogram{}
	for i := 1; i <= 1000; i++ { // 1 µs .. 1000 µs, one each
		h.add(time.Duration(i)*time.Microsecond - time.Nanosecond)
	}
	h.add(50 * time.Millisecond) // beyond the buckets
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 501 * time.Microsecond},
		{0.99, 991 * time.Microsecond},
		{1, 50 * time.Millisecond},
	} {
		if got := h.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	other := &histogram{}
	other.add(3 * time.Microsecond)
	h.merge(other)
	if h.n != 1002 {
		t.Errorf("merged count %d, want 1002", h.n)
	}
}

func TestReadResponse(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 18\r\n\r\n{\"message\":\"pong\"}" +
		"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 2\r\n\r\n{}" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(raw))
	for _, want := range []int{200, 405} {
		got, err := readResponse(br)
		if err != nil || got != want {
			t.Fatalf("readResponse = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := readResponse(br); err == nil {
		t.Error("a response without Content-Length was accepted")
	}
}

func TestRunLoadCountsResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"message":"pong"}`))
	}))
	defer srv.Close()
	res := runLoad(strings.TrimPrefix(srv.URL, "http://"), 4, 200*time.Millisecond)
	if res.requests == 0 || res.failures != 0 {
		t.Fatalf("requests %d failures %d (%v), want some and none", res.requests, res.failures, res.firstErr)
	}
	if res.hist.n != res.requests || res.hist.quantile(0.99) <= 0 {
		t.Errorf("histogram holds %d of %d requests, p99 %v", res.hist.n, res.requests, res.hist.quantile(0.99))
	}
	if tp := res.throughput(); tp <= 0 || math.IsInf(tp, 0) {
		t.Errorf("throughput %v", tp)
	}

	srv404 := httptest.NewServer(http.NotFoundHandler())
	defer srv404.Close()
	res = runLoad(strings.TrimPrefix(srv404.URL, "http://"), 1, 50*time.Millisecond)
	if res.requests != 0 || res.failures == 0 {
		t.Errorf("404s counted as %d successes, %d failures; want all failures", res.requests, res.failures)
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus("Name:\tx\nVmHWM:\t   14336 kB\nVmRSS:\t   12288 kB\nThreads:\t5\n")
	if err != nil || m.rssKB != 12288 || m.hwmKB != 14336 {
		t.Errorf("parseStatus = %+v, %v; want rss 12288 hwm 14336", m, err)
	}
	if _, err := parseStatus("Name:\tkthread\n"); err == nil {
		t.Error("status without VmRSS accepted")
	}
	self, err := memoryOf(os.Getpid())
	if err != nil || self.rssKB <= 0 || self.hwmKB < self.rssKB {
		t.Errorf("memoryOf(self) = %+v, %v", self, err)
	}
}

func TestCPUTimeGrowsWithWork(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until 50 ms of CPU time show up; on a busy machine that takes
	// longer than 50 ms of wall time, so only a generous bound fails.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		now, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 50*time.Millisecond {
			return
		}
	}
	t.Errorf("10 s of spinning did not show 50 ms of CPU time")
}

func TestPairedRatioAndMedian(t *testing.T) {
	// Round 2 is slow for both servers (a noisy neighbour); per-round ratios
	// stay at 0.9 while a ratio of medians would not.
	svc := []float64{90, 45, 90, 91}
	bare := []float64{100, 50, 100, 101}
	if got := pairedRatio(svc, bare); math.Abs(got-0.9) > 0.002 {
		t.Errorf("pairedRatio = %v, want 0.9", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
}

func TestStartOnPinsTheChildOnly(t *testing.T) {
	runtime.LockOSThread() // startOn runs on this thread; check it is restored
	defer runtime.UnlockOSThread()
	before, err := getAffinity(0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "grep Cpus_allowed_list /proc/self/status")
	var out strings.Builder
	cmd.Stdout = &out
	if err := startOn(cmd, 0); err != nil {
		t.Fatalf("startOn: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); !strings.HasSuffix(got, "\t0") {
		t.Errorf("child's %q, want only CPU 0", got)
	}
	after, err := getAffinity(0)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the forking thread's mask changed from %x to %x", before[0], after[0])
	}
}
