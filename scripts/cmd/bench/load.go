package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// pingRequest is what every load connection sends, keep-alive, one at a
// time (no pipelining), like wrk without a script.
const pingRequest = "GET /ping HTTP/1.1\r\nHost: bench\r\nUser-Agent: flakeship-bench\r\n\r\n"

// histBuckets holds latencies at 1 µs resolution up to 20 ms; slower ones
// are kept exactly in over.
const histBuckets = 20_000

type histogram struct {
	counts [histBuckets]uint64
	over   []time.Duration
	n      uint64
}

func (h *histogram) add(d time.Duration) {
	if us := d / time.Microsecond; us >= 0 && us < histBuckets {
		h.counts[us]++
	} else {
		h.over = append(h.over, d)
	}
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.over = append(h.over, o.over...)
	h.n += o.n
}

// quantile returns the latency below which a fraction q of requests fell,
// to the upper edge of its 1 µs bucket.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(i+1) * time.Microsecond
		}
	}
	over := slices.Clone(h.over)
	slices.Sort(over)
	return over[min(int(rank-seen)-1, len(over)-1)]
}

type loadResult struct {
	requests uint64
	failures uint64
	elapsed  time.Duration
	hist     *histogram
	firstErr error
}

func (r loadResult) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// runLoad keeps conns connections busy with GET /ping for d and counts the
// 200 responses. A failed connection is redialled.
func runLoad(addr string, conns int, d time.Duration) loadResult {
	results := make([]loadResult, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range conns {
		wg.Go(func() { results[i] = loadConnection(addr, deadline) })
	}
	wg.Wait()
	total := loadResult{elapsed: time.Since(start), hist: &histogram{}}
	for _, r := range results {
		total.requests += r.requests
		total.failures += r.failures
		total.hist.merge(r.hist)
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
	}
	return total
}

func loadConnection(addr string, deadline time.Time) loadResult {
	res := loadResult{hist: &histogram{}}
	req := []byte(pingRequest)
	var conn net.Conn
	var br *bufio.Reader
	fail := func(err error) {
		res.failures++
		if res.firstErr == nil {
			res.firstErr = err
		}
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for time.Now().Before(deadline) {
		if conn == nil {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 4096)
		}
		t0 := time.Now()
		if _, err := conn.Write(req); err != nil {
			fail(err)
			continue
		}
		status, err := readResponse(br)
		if err != nil {
			fail(err)
			continue
		}
		if status != 200 {
			fail(fmt.Errorf("status %d", status))
			continue
		}
		res.hist.add(time.Since(t0))
		res.requests++
	}
	return res
}

var contentLength = []byte("content-length:")

// readResponse reads one HTTP/1.1 response with a Content-Length body and
// returns its status, allocating nothing.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 { // the blank line ending the headers
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			if err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", line)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}
