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
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment},
		// Fly's health checks do not follow redirects, so neither does the probe.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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
	name    string // method and path, e.g. GET /healthz
	status  int
	latency time.Duration
	err     error
}

// attempt is one probe of /version and of fly.toml's health checks.
// problem is empty when the expected release answered and passed them.
type attempt struct {
	version endpointResult
	checks  []endpointResult
	info    versionInfo
	release string // release seen in /version ("" if none)
	problem string
}

func (a attempt) ok() bool { return a.problem == "" }

func (a attempt) latency() time.Duration {
	d := a.version.latency
	for _, c := range a.checks {
		d += c.latency
	}
	return d
}

// probe asks /version first: while an old release (whose checks may differ)
// still answers, that is what to report. Then every health check must pass.
func probe(ctx context.Context, client *http.Client, cfg *config) attempt {
	var a attempt
	var body []byte
	a.version, body = get(ctx, client, cfg.baseURL, healthCheck{Method: http.MethodGet, Path: "/version"})
	if a.problem = endpointProblem(a.version, cfg.baseURL, false); a.problem != "" {
		return a
	}
	if err := json.Unmarshal(body, &a.info); err != nil || a.info.Version == "" && a.info.ImageRef == "" {
		a.problem = fmt.Sprintf("/version answered %.120q, not the service's JSON with version and image_ref: is something else serving %s?",
			bytes.TrimSpace(body), cfg.baseURL)
		return a
	}
	a.release = releaseOf(a.info)
	if imageTag(a.info.ImageRef) != cfg.release && a.info.Version != cfg.release {
		a.problem = oldReleaseProblem(a.info, a.release, cfg.release)
		return a
	}
	for _, c := range cfg.checks {
		r, _ := get(ctx, client, cfg.baseURL, c)
		a.checks = append(a.checks, r)
		if a.problem = endpointProblem(r, cfg.baseURL, true); a.problem != "" {
			a.problem = fmt.Sprintf("health check of %s: %s", cfg.flyConfig, a.problem)
			return a
		}
	}
	return a
}

// get makes the request c describes, with its headers (Host sets the
// request's host, as net/http wants it).
func get(ctx context.Context, client *http.Client, base string, c healthCheck) (res endpointResult, body []byte) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	start := time.Now()
	res.name = c.String()
	req, err := http.NewRequestWithContext(ctx, c.Method, base+c.Path, nil)
	var resp *http.Response
	if err == nil {
		for k, v := range c.Headers {
			if strings.EqualFold(k, "Host") {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
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

// endpointProblem describes a transport error or an answer other than 200
// (any 2xx for a health check, as Fly's proxy counts it).
func endpointProblem(r endpointResult, base string, check bool) string {
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
		return fmt.Sprintf("%s answered HTTP %d %s: the app is reachable but failing (see `flyctl logs`)", r.name, r.status, http.StatusText(r.status))
	case check && r.status >= 200 && r.status < 300, !check && r.status == http.StatusOK:
		return ""
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("%s answered HTTP %d %s, a redirect, which Fly's checks do not follow: point the check at the path that answers", r.name, r.status, http.StatusText(r.status))
	case r.status == http.StatusNotFound && !check:
		return fmt.Sprintf("%s answered HTTP 404 Not Found: the service must serve /version (keep it when you replace /ping), or something else is serving %s", r.name, base)
	case r.status == http.StatusNotFound:
		return fmt.Sprintf("%s answered HTTP 404 Not Found: is the path right, or is something else serving %s?", r.name, base)
	case check:
		return fmt.Sprintf("%s answered HTTP %d %s, want 2xx", r.name, r.status, http.StatusText(r.status))
	default:
		return fmt.Sprintf("%s answered HTTP %d %s, want 200", r.name, r.status, http.StatusText(r.status))
	}
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
