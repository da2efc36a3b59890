package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

const usageLine = "usage: verify --url URL --expect-release LABEL [--timeout 3m]\n" +
	"       verify current-image < status.json   (prints the image `flyctl status --json` says is serving)\n" +
	"       verify machines-on LABEL < status.json   (prints the machines whose image is tagged LABEL; exit 1: none)\n" +
	"       verify deploy-budget [--config fly.toml] [--deploy-script scripts/deploy]   (prints the deploy job's timeout-minutes)"

type config struct {
	baseURL string // without trailing slash
	release string
	timeout time.Duration
}

// parseFlags returns (nil, nil) when help was asked for, and an error after
// printing the problem and the usage line to stderr.
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
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, err
	}
	fail := func(format string, a ...any) (*config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintf(stderr, "verify: %v\n%s\n", err, usageLine)
		return nil, err
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q: all options are flags", fs.Arg(0))
	}
	if *rawURL == "" {
		return fail("--url is required")
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("--url %q is not an http(s) URL with a host, e.g. https://my-app.fly.dev", *rawURL)
	}
	if strings.TrimSpace(*release) == "" {
		return fail("--expect-release is required, e.g. --expect-release git-$GITHUB_SHA")
	}
	if *timeout <= 0 {
		return fail("--timeout must be positive, got %s", *timeout)
	}
	return &config{
		baseURL: strings.TrimRight(*rawURL, "/"),
		release: strings.TrimSpace(*release),
		timeout: *timeout,
	}, nil
}
