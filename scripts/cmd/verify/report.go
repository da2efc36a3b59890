package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// reporter writes the outcome for people (stdout/stderr) and, when the
// GitHub Actions files are present, for the workflow (outputs, summary,
// annotations).
type reporter struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	gha            *githubactions.Action
	inActions      bool
}

func newReporter(stdout, stderr io.Writer, getenv func(string) string) *reporter {
	return &reporter{
		stdout:    stdout,
		stderr:    stderr,
		getenv:    getenv,
		gha:       githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv)),
		inActions: getenv("GITHUB_ACTIONS") == "true",
	}
}

// maskSecrets keeps deploy tokens out of the log should anything echo them.
// Outside Actions there is no log masking, so nothing is printed.
func (r *reporter) maskSecrets() {
	if !r.inActions {
		return
	}
	for _, name := range []string{"FLY_API_TOKEN", "FLY_ACCESS_TOKEN"} {
		if v := r.getenv(name); v != "" {
			r.gha.AddMask(v)
		}
	}
}

func (r *reporter) report(cfg *config, res result) int {
	if r.getenv("GITHUB_STEP_SUMMARY") != "" {
		r.gha.AddStepSummary(summary(cfg, res))
	}
	if r.getenv("GITHUB_OUTPUT") != "" {
		r.gha.SetOutput("url", cfg.baseURL)
		r.gha.SetOutput("attempts", strconv.Itoa(res.attempts))
		if res.ok() {
			r.gha.SetOutput("release", res.last.release)
			r.gha.SetOutput("latency", formatLatency(res.last.ping.latency+res.last.version.latency))
		}
	}
	if res.ok() {
		fmt.Fprintf(r.stdout, "verify: release %s is serving at %s (/ping pong; attempt %d after %s; last probe %s)\n",
			res.last.release, cfg.baseURL, res.attempts, res.elapsed.Round(time.Millisecond),
			formatLatency(res.last.ping.latency+res.last.version.latency))
		return exitOK
	}
	msg := failureMessage(cfg, res)
	if r.inActions {
		r.gha.WithFieldsMap(map[string]string{"title": "Rollout not verified"}).Errorf("%s", msg)
	} else {
		fmt.Fprintf(r.stderr, "verify: error: %s\n", msg)
	}
	return exitFail
}

func failureMessage(cfg *config, res result) string {
	return fmt.Sprintf("release %s not serving at %s within %s (%d attempts): %s",
		cfg.release, cfg.baseURL, cfg.timeout, res.attempts, res.last.problem)
}

func summary(cfg *config, res result) string {
	var b strings.Builder
	if res.ok() {
		fmt.Fprintf(&b, "### ✅ Rollout verified: `%s` at %s\n\n", cfg.release, cfg.baseURL)
	} else {
		fmt.Fprintf(&b, "### ❌ Rollout not verified: `%s` at %s\n\n", cfg.release, cfg.baseURL)
	}
	b.WriteString("| endpoint | status | latency | release | machine | region |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	last := res.last
	for _, ep := range []endpointResult{last.ping, last.version} {
		if ep.path == "" {
			continue // never reached
		}
		release, machine, region := "", "", ""
		if ep.path == "/version" {
			release, machine, region = last.release, last.info.MachineID, last.info.Region
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", ep.path, statusCell(ep), formatLatency(ep.latency),
			cell(release), cell(machine), cell(region))
	}
	fmt.Fprintf(&b, "\n%d attempt(s) in %s.\n", res.attempts, res.elapsed.Round(time.Millisecond))
	if !res.ok() {
		fmt.Fprintf(&b, "\n**Problem:** %s\n", cell(last.problem))
	}
	return b.String()
}

func statusCell(ep endpointResult) string {
	if ep.status == 0 {
		return "no answer"
	}
	return strconv.Itoa(ep.status)
}

// cell keeps server-supplied text from breaking the Markdown table.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
