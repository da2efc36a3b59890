package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
)

const (
	firstWait = 500 * time.Millisecond
	maxWait   = 8 * time.Second
)

// result is the outcome of polling: the last complete attempt (one cut short
// by the deadline is dropped when an earlier one says more), how many
// attempts ran, and how long it all took.
type result struct {
	last     attempt
	attempts int
	elapsed  time.Duration
	timedOut bool
}

func (r result) ok() bool { return !r.timedOut && r.last.ok() }

// poll probes until the expected release answers or cfg.timeout passes,
// waiting with capped exponential backoff and ±20% jitter in between.
func poll(cfg *config, client *http.Client) result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	var res result
	wait := firstWait
	for {
		a := probe(ctx, client, cfg)
		cutShort := ctx.Err() != nil
		if !cutShort || res.attempts == 0 {
			res.last = a
		}
		res.attempts++
		if a.ok() {
			res.elapsed = time.Since(start)
			return res
		}
		if cutShort {
			break
		}
		deadline, _ := ctx.Deadline()
		sleep := jitter(wait)
		if remaining := time.Until(deadline); sleep > remaining {
			sleep = remaining
		}
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(2*wait, maxWait)
	}
	res.timedOut = true
	res.elapsed = time.Since(start)
	return res
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
