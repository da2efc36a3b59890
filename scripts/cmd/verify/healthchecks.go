package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/BurntSushi/toml"
)

// healthCheck is one HTTP check fly.toml gives the service: what Fly's
// proxy asks of a machine before it routes traffic to it. Keys as flyctl
// v0.4.87 reads them (internal/appconfig/service.go, ServiceHTTPCheck).
// protocol, tls_skip_verify and tls_server_name shape the hop from Fly's
// proxy to the machine, which a probe through the app's URL does not make.
type healthCheck struct {
	Method  string            `toml:"method"`
	Path    string            `toml:"path"`
	Headers map[string]string `toml:"headers"`
}

func (c healthCheck) String() string { return c.Method + " " + c.Path }

// readHealthChecks returns every [[http_service.checks]] and
// [[services.http_checks]] of the fly.toml at path, method upper-cased
// (Fly's default is GET).
func readHealthChecks(path string) ([]healthCheck, error) {
	var cfg struct {
		HTTPService *struct {
			Checks []healthCheck `toml:"checks"`
		} `toml:"http_service"`
		Services []struct {
			HTTPChecks []healthCheck `toml:"http_checks"`
		} `toml:"services"`
	}
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (--config names the app's fly.toml; run from the repository root or pass --config)", err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var checks []healthCheck
	if cfg.HTTPService != nil {
		checks = append(checks, cfg.HTTPService.Checks...)
	}
	for _, s := range cfg.Services {
		checks = append(checks, s.HTTPChecks...)
	}
	for i, c := range checks {
		if !strings.HasPrefix(c.Path, "/") {
			return nil, fmt.Errorf("%s: health check %d has path %q: set path to the URL path the service answers healthy on, e.g. path = \"/healthz\"", path, i+1, c.Path)
		}
		checks[i].Method = strings.ToUpper(c.Method)
		if checks[i].Method == "" {
			checks[i].Method = http.MethodGet
		}
	}
	return checks, nil
}
