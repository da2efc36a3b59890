package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"scripts/internal/testkit"
)

const wrkConns = 4

// wrkAgainst runs the bench's wrk script against handler for a short while.
func wrkAgainst(t *testing.T, handler http.Handler) (wrkResult, error) {
	t.Helper()
	wrk := testkit.RequireTool(t, "wrk", "nix develop (the dev shell has it), or apt-get install wrk")
	srv := httptest.NewServer(handler)
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "report.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return runWrk(wrk, script, srv.URL+"/ping", 1, wrkConns, time.Second, -1)
}

func TestWrkScriptReportsWhatWrkMeasured(t *testing.T) {
	testkit.FullTier(t)
	var served atomic.Int64
	r, err := wrkAgainst(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		_, _ = w.Write([]byte(`{"message":"pong"}`))
	}))
	if err != nil {
		t.Fatal(err)
	}
	// wrk stops with up to one request per connection unanswered.
	if n := served.Load(); r.requests <= 0 || r.requests > n || r.requests < n-wrkConns {
		t.Errorf("wrk reported %d requests, the server answered %d", r.requests, n)
	}
	if r.errors != 0 || r.p99 <= 0 || r.duration < time.Second || r.duration > 10*time.Second {
		t.Errorf("wrk result %+v: want no errors, a p99 and a duration of about 1s", r)
	}
	if want := float64(r.requests) / r.duration.Seconds(); r.throughput() != want {
		t.Errorf("throughput %v, want requests per second %v", r.throughput(), want)
	}
}

func TestWrkErrorStatusesAreNotThroughput(t *testing.T) {
	testkit.FullTier(t)
	_, err := wrkAgainst(t, http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), "no successful response") {
		t.Errorf("a server answering only 404 gave %v, want an error saying no response succeeded", err)
	}
}

func TestParseWrkWithoutTheResultLine(t *testing.T) {
	if _, err := parseWrk([]byte("Running 1s test @ http://127.0.0.1:1/ping\n")); err == nil || !strings.Contains(err.Error(), "no bench-result line") {
		t.Errorf("output without the script's line gave %v, want an error naming the missing line", err)
	}
}

func TestPairedRatioAndMedian(t *testing.T) {
	// Round 2 is slow for both servers (a noisy neighbour); per-round ratios
	// stay at 0.9 while a ratio of medians would not.
	if got := pairedRatio([]float64{90, 45, 90, 91}, []float64{100, 50, 100, 101}); got < 0.899 || got > 0.901 {
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
	cpus := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return cpusAllowed(string(b))
	}
	before := cpus("/proc/self/status")
	cmd := exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	var out strings.Builder
	cmd.Stdout = &out
	if err := startOn(cmd, 0); err != nil {
		t.Fatalf("startOn: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := cpusAllowed(out.String()); got != "0" {
		t.Errorf("the child may run on CPUs %q, want only 0", got)
	}
	threads, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(threads) == 0 {
		t.Fatalf("listing this process's threads: %v", err)
	}
	for _, status := range threads {
		if got := cpus(status); got != before {
			t.Errorf("thread %s may run on CPUs %q, want %q as before", status, got, before)
		}
	}
}

func cpusAllowed(status string) string {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestServerStartMeasureStop(t *testing.T) {
	testkit.FullTier(t)
	bin := filepath.Join(t.TempDir(), "bare")
	if out, err := exec.Command("go", "build", "-o", bin, "./bare").CombinedOutput(); err != nil {
		t.Fatalf("building ./bare: %v\n%s", err, out)
	}
	a, b := &server{name: "a", bin: bin}, &server{name: "b", bin: bin}
	for _, s := range []*server{a, b} {
		took, err := s.start(-1)
		if err != nil {
			t.Fatal(err)
		}
		if took <= 0 {
			t.Errorf("start-up took %v", took)
		}
	}
	if err := sameResponses([]*server{a, b}); err != nil {
		t.Error(err)
	}
	for _, s := range []*server{a, b} {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
		if err := s.stop(); err != nil {
			t.Errorf("a second stop: %v", err)
		}
		if kb, cpu := s.usage(); kb <= 0 || cpu <= 0 {
			t.Errorf("peak RSS %d KiB, CPU %v: want the kernel's figures", kb, cpu)
		}
	}
}
