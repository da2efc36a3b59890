package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

const (
	// requestTimeout bounds one request; the overall deadline bounds it further.
	requestTimeout = 10 * time.Second
	firstWait      = 500 * time.Millisecond
	maxWait        = 8 * time.Second
)

// result is the outcome of polling: the last complete attempt (a failed one
// cut short by the deadline is dropped when an earlier one says more), how
// many attempts ran, and how long it all took.
type result struct {
	last     attempt
	attempts int
	elapsed  time.Duration
}

func (r result) ok() bool { return r.last.ok() }

// poll probes until the expected release answers or cfg.timeout passes,
// waiting with capped exponential backoff and ±20% jitter in between. A
// fresh connection per request, so every attempt goes through the proxy's
// routing like a new visitor would.
func poll(cfg *config) (res result) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	defer func() { res.elapsed = time.Since(start) }()
	for wait := firstWait; ; wait = min(2*wait, maxWait) {
		a := probe(ctx, client, cfg)
		if a.ok() || ctx.Err() == nil || res.attempts == 0 {
			res.last = a
		}
		res.attempts++
		if a.ok() {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-time.After(time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))):
		}
	}
}

// versionInfo is the service's /version body (see the service contract).
type versionInfo struct {
	Version   string `json:"version"`
	ImageRef  string `json:"image_ref"`
	MachineID string `json:"machine_id"`
	Region    string `json:"region"`
}

// endpointResult is what one request saw; status 0 means no HTTP answer.
type endpointResult struct {
	path    string
	status  int
	latency time.Duration
	err     error
}

// attempt is one probe of /ping and /version. problem is empty when the
// expected release answered.
type attempt struct {
	ping, version endpointResult
	info          versionInfo
	release       string // release seen in /version ("" if none)
	problem       string
}

func (a attempt) ok() bool { return a.problem == "" }

func probe(ctx context.Context, client *http.Client, cfg *config) attempt {
	var a attempt
	var body []byte
	a.ping, body = get(ctx, client, cfg.baseURL, "/ping")
	if a.problem = endpointProblem(a.ping, cfg.baseURL); a.problem != "" {
		return a
	}
	var pong struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &pong); err != nil || pong.Message != "pong" {
		a.problem = fmt.Sprintf(`/ping answered %.120q, want {"message":"pong"}: is something else serving %s?`, bytes.TrimSpace(body), cfg.baseURL)
		return a
	}
	a.version, body = get(ctx, client, cfg.baseURL, "/version")
	if a.problem = endpointProblem(a.version, cfg.baseURL); a.problem != "" {
		return a
	}
	if err := json.Unmarshal(body, &a.info); err != nil {
		a.problem = fmt.Sprintf("/version answered %.120q, which is not the service's JSON: %v", bytes.TrimSpace(body), err)
		return a
	}
	a.release = releaseOf(a.info)
	if imageTag(a.info.ImageRef) != cfg.release && a.info.Version != cfg.release {
		a.problem = oldReleaseProblem(a.info, a.release, cfg.release)
	}
	return a
}

func get(ctx context.Context, client *http.Client, base, path string) (res endpointResult, body []byte) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	start := time.Now()
	res.path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	var resp *http.Response
	if err == nil {
		resp, err = client.Do(req)
	}
	if err == nil {
		defer resp.Body.Close()
		res.status = resp.StatusCode
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	res.latency, res.err = time.Since(start), err
	return res, body
}

// endpointProblem describes a transport error or a non-200 answer.
func endpointProblem(r endpointResult, base string) string {
	u, _ := url.Parse(base) // parseFlags checked it
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(r.err, &dnsErr):
		return fmt.Sprintf("DNS lookup of %s failed (%v): does the app exist and has it been deployed once?", dnsErr.Name, dnsErr.Err)
	case errors.Is(r.err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s: nothing is listening there (machine stopped or crashed?)", u.Host)
	case errors.Is(r.err, context.DeadlineExceeded) || errors.As(r.err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer from %s in time (request timed out)", u.Host)
	case r.err != nil:
		return fmt.Sprintf("request to %s failed: %v", u.Host, r.err)
	case r.status >= 500:
		return fmt.Sprintf("%s answered HTTP %d %s: the app is reachable but failing (see `flyctl logs`)", r.path, r.status, http.StatusText(r.status))
	case r.status != http.StatusOK:
		return fmt.Sprintf("%s answered HTTP %d %s, want 200", r.path, r.status, http.StatusText(r.status))
	}
	return ""
}

// releaseOf names the release a /version body reports: the image tag when
// FLY_IMAGE_REF is set (registry.fly.io/app:git-<sha>), else the version.
func releaseOf(v versionInfo) string {
	if tag := imageTag(v.ImageRef); tag != "" {
		return tag
	}
	return v.Version
}

// imageTag returns the tag of an image reference, ignoring any @digest.
func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	name := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return ""
}

func oldReleaseProblem(v versionInfo, seen, want string) string {
	where := ""
	if v.MachineID != "" {
		where = fmt.Sprintf(" on machine %s", v.MachineID)
		if v.Region != "" {
			where += " in " + v.Region
		}
	}
	if seen == "" {
		return fmt.Sprintf("/version names no release (empty version and image_ref)%s, want %s", where, want)
	}
	detail := fmt.Sprintf("version %q", v.Version)
	if v.ImageRef != "" {
		detail = fmt.Sprintf("image_ref %q, version %q", v.ImageRef, v.Version)
	}
	return fmt.Sprintf("old release still serving: %s (%s)%s, want %s", seen, detail, where, want)
}
