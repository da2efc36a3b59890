package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// report writes the outcome for people (stdout/stderr) and, inside GitHub
// Actions, for the workflow (a job summary and an ::error annotation), and
// returns the exit code. It sets no step outputs: scripts/deploy owns its
// step's.
func report(cfg *config, res result, stdout, stderr io.Writer, getenv func(string) string) int {
	gha := githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(getenv))
	latency := formatLatency(res.last.latency())
	if getenv("GITHUB_STEP_SUMMARY") != "" {
		gha.AddStepSummary(summary(cfg, res))
	}
	if res.ok() {
		fmt.Fprintf(stdout, "verify: release %s is serving at %s (%s; attempt %d after %s; last probe %s)\n",
			res.last.release, cfg.baseURL, passedChecks(cfg, res.last), res.attempts, res.elapsed.Round(time.Millisecond), latency)
		return exitOK
	}
	msg := fmt.Sprintf("release %s not serving at %s within %s (%d attempts): %s",
		cfg.release, cfg.baseURL, cfg.timeout, res.attempts, res.last.problem)
	if getenv("GITHUB_ACTIONS") == "true" {
		gha.WithFieldsMap(map[string]string{"title": "Rollout not verified"}).Errorf("%s", msg)
	} else {
		fmt.Fprintf(stderr, "verify: error: %s\n", msg)
	}
	return exitFail
}

// summary is the job summary: a table of the last attempt's requests.
func summary(cfg *config, res result) string {
	var b strings.Builder
	mark, verdict := "✅", "verified"
	if !res.ok() {
		mark, verdict = "❌", "not verified"
	}
	fmt.Fprintf(&b, "### %s Rollout %s: `%s` at %s\n\n", mark, verdict, cfg.release, cfg.baseURL)
	b.WriteString("| endpoint | status | latency | release | machine | region |\n| --- | --- | --- | --- | --- | --- |\n")
	// cell keeps server-supplied text from breaking the Markdown table.
	cell := strings.NewReplacer("|", `\|`, "\n", " ").Replace
	last := res.last
	for _, ep := range append([]endpointResult{last.version}, last.checks...) {
		if ep.name == "" {
			continue // never reached
		}
		status, release, machine, region := "no answer", "", "", ""
		if ep.status != 0 {
			status = strconv.Itoa(ep.status)
		}
		if ep.name == last.version.name {
			release, machine, region = last.release, last.info.MachineID, last.info.Region
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(ep.name), status, formatLatency(ep.latency),
			cell(release), cell(machine), cell(region))
	}
	fmt.Fprintf(&b, "\n%d attempt(s) in %s.\n", res.attempts, res.elapsed.Round(time.Millisecond))
	if !res.ok() {
		fmt.Fprintf(&b, "\n**Problem:** %s\n", cell(last.problem))
	}
	return b.String()
}

// passedChecks names the health checks that passed, or says fly.toml has none.
func passedChecks(cfg *config, a attempt) string {
	if len(a.checks) == 0 {
		return "no [[http_service.checks]] in " + cfg.flyConfig + ", /version only"
	}
	passed := make([]string, len(a.checks))
	for i, c := range a.checks {
		passed[i] = fmt.Sprintf("%s %d", c.name, c.status)
	}
	return "health checks of " + cfg.flyConfig + ": " + strings.Join(passed, ", ")
}

func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
