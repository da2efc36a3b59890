// Command verify checks that a rollout reached the service: it polls
// URL/version and every HTTP health check fly.toml defines until /version
// names the expected release and each check answers 2xx, or the deadline
// passes.
//
//	verify --url URL --expect-release LABEL [--config fly.toml] [--timeout 3m]
//	verify current-image < status.json
//	verify machines-on LABEL < status.json
//	verify deploy-budget [--config fly.toml] [--deploy-script scripts/deploy]
//
// Inside GitHub Actions it writes a job summary and ::error annotations;
// outside it prints plain text.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usageLine = "usage: verify --url URL --expect-release LABEL [--config fly.toml] [--timeout 3m]\n" +
	"       verify current-image < status.json   (prints the image `flyctl status --json` says is serving)\n" +
	"       verify machines-on LABEL < status.json   (prints the machines whose image is tagged LABEL; exit 1: none)\n" +
	"       verify deploy-budget [--config fly.toml] [--deploy-script scripts/deploy]   (prints the deploy job's timeout-minutes)"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && (args[0] == currentImageCommand || args[0] == machinesOnCommand) {
		return runStatusCommand(args, stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == deployBudgetCommand {
		return runDeployBudget(args[1:], stdout, stderr, getenv)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	return report(cfg, poll(cfg), stdout, stderr, getenv)
}

type config struct {
	baseURL   string // without trailing slash
	release   string
	timeout   time.Duration
	flyConfig string        // the fly.toml the checks come from
	checks    []healthCheck // what fly.toml says makes the service healthy
}

// parseFlags returns flag.ErrHelp when help was asked for, and any other
// error after printing the problem and the usage line to stderr.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usageLine)
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "", "base URL of the service, e.g. https://<app>.fly.dev")
	release := fs.String("expect-release", "", "release label that must be serving, e.g. git-<sha>")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long (Go duration)")
	flyConfig := fs.String("config", "fly.toml", "fly.toml whose [[http_service.checks]] the release must pass")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	u, err := url.Parse(*rawURL)
	cfg := &config{baseURL: strings.TrimRight(*rawURL, "/"), release: strings.TrimSpace(*release), timeout: *timeout, flyConfig: *flyConfig}
	var problem string
	switch {
	case fs.NArg() > 0:
		problem = fmt.Sprintf("unexpected argument %q: all options are flags", fs.Arg(0))
	case *rawURL == "":
		problem = "--url is required"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problem = fmt.Sprintf("--url %q is not an http(s) URL with a host, e.g. https://my-app.fly.dev", *rawURL)
	case cfg.release == "":
		problem = "--expect-release is required, e.g. --expect-release git-$GITHUB_SHA"
	case *timeout <= 0:
		problem = fmt.Sprintf("--timeout must be positive, got %s", *timeout)
	default:
		if cfg.checks, err = readHealthChecks(cfg.flyConfig); err == nil {
			return cfg, nil
		}
		problem = err.Error()
	}
	fmt.Fprintf(stderr, "verify: %s\n%s\n", problem, usageLine)
	return nil, errors.New(problem)
}
