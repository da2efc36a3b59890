package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// wrkScript makes wrk print one line the bench reads, from the statistics
// wrk hands its done() hook (wg/wrk SCRIPTING: durations and latencies in
// microseconds; errors.status counts responses with a status above 399).
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench-result requests=%d duration_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

type wrkResult struct {
	requests, errors int64
	duration, p99    time.Duration
}

// throughput counts successful responses only: wrk's requests include the
// ones that got an error status.
func (r wrkResult) throughput() float64 {
	return float64(r.requests-r.errors) / r.duration.Seconds()
}

// runWrk loads url with wrk for d (whole seconds: wrk's unit), confined to
// cpu if cpu >= 0.
func runWrk(wrk, script, url string, threads, conns int, d time.Duration, cpu int) (wrkResult, error) {
	cmd := exec.Command(wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(d/time.Second))+"s", "-s", script, url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := startOn(cmd, cpu); err != nil {
		return wrkResult{}, err
	}
	if err := cmd.Wait(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s%s", url, err, stdout.Bytes(), stderr.Bytes())
	}
	return parseWrk(stdout.Bytes())
}

func parseWrk(out []byte) (wrkResult, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r wrkResult
		var durationUS, p99US int64
		if _, err := fmt.Sscanf(sc.Text(), "bench-result requests=%d duration_us=%d p99_us=%d errors=%d",
			&r.requests, &durationUS, &p99US, &r.errors); err != nil {
			continue
		}
		if durationUS <= 0 || r.requests <= r.errors {
			return r, fmt.Errorf("wrk got no successful response: %s", sc.Text())
		}
		r.duration, r.p99 = time.Duration(durationUS)*time.Microsecond, time.Duration(p99US)*time.Microsecond
		return r, nil
	}
	return wrkResult{}, fmt.Errorf("wrk printed no bench-result line (does it run the -s script's done()?):\n%s", out)
}
