package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeFlyToml writes a fly.toml holding body and returns its path.
func writeFlyToml(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fly.toml")
	if err := os.WriteFile(p, []byte("app = \"verify-test-app\"\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// versionServer answers /version as the service does for release, and the
// other paths with handle.
func versionServer(t *testing.T, release string, handle http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(versionInfo{Version: "v1", ImageRef: imageRef(release)})
			return
		}
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestHealthCheckOfFlyTomlIsAskedWithItsMethodAndHeaders(t *testing.T) {
	config := writeFlyToml(t, `
[http_service]
  internal_port = 8080
  [[http_service.checks]]
    method = "head"
    path = "/healthz"
    [http_service.checks.headers]
      X-Check = "fly"
      Host = "app.internal"
`)
	var mu sync.Mutex
	var seen []string
	base := versionServer(t, newRelease, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Check")+" "+r.Host)
		mu.Unlock()
		if r.Method == http.MethodHead && r.URL.Path == "/healthz" && r.Header.Get("X-Check") == "fly" && r.Host == "app.internal" {
			w.WriteHeader(http.StatusNoContent) // any 2xx passes, as for Fly's proxy
			return
		}
		http.NotFound(w, r)
	})

	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--config", config, "--timeout", "5s")

	if inv.code != exitOK {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("exit %d, want 0 (requests seen: %q)\nstderr:\n%s", inv.code, seen, &inv.stderr)
	}
	if want := "(health checks of " + config + ": HEAD /healthz 204; attempt 1"; !strings.Contains(inv.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, &inv.stdout)
	}
}

func TestEveryHealthCheckMustPass(t *testing.T) {
	base := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease))
	config := writeFlyToml(t, `
[http_service]
  [[http_service.checks]]
    path = "/version"
[[services]]
  internal_port = 8080
  [[services.http_checks]]
    path = "/missing"
`)
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--config", config, "--timeout", "1500ms")

	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s", inv.code, &inv.stdout)
	}
	want := "health check of " + config + ": GET /missing answered HTTP 404 Not Found: is the path right, or is something else serving " + base + "?"
	if !strings.Contains(inv.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &inv.stderr)
	}
}

func TestARedirectFailsTheCheckAsOnFly(t *testing.T) {
	config := writeFlyToml(t, "[[http_service.checks]]\n  path = \"/healthz\"\n")
	base := versionServer(t, newRelease, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz/", http.StatusMovedPermanently)
	})
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--config", config, "--timeout", "1s")
	if inv.code != exitFail || !strings.Contains(inv.stderr.String(), "GET /healthz answered HTTP 301 Moved Permanently, a redirect, which Fly's checks do not follow") {
		t.Errorf("exit %d, want 1 naming the redirect:\n%s", inv.code, &inv.stderr)
	}
}

func TestSomethingElseAnsweringTheURLIsNamed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>welcome to another app</html>"))
	}))
	t.Cleanup(srv.Close)
	inv := runVerify(map[string]string{}, "--url", srv.URL, "--expect-release", newRelease, "--timeout", "1s")
	want := `/version answered "<html>welcome to another app</html>", not the service's JSON with version and image_ref: is something else serving ` + srv.URL + "?"
	if inv.code != exitFail || !strings.Contains(inv.stderr.String(), want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", inv.code, want, &inv.stderr)
	}
}

func TestNoHealthChecksIsSaidNotSkippedInSilence(t *testing.T) {
	base := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease))
	config := writeFlyToml(t, "[http_service]\n  internal_port = 8080\n")
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--config", config, "--timeout", "5s")
	if want := "(no [[http_service.checks]] in " + config + ", /version only;"; inv.code != exitOK || !strings.Contains(inv.stdout.String(), want) {
		t.Errorf("exit %d, want 0 and %q:\n%s%s", inv.code, want, &inv.stdout, &inv.stderr)
	}
}

func TestBadFlyTomlIsAUsageError(t *testing.T) {
	for _, c := range []struct{ name, config, want string }{
		{"missing", filepath.Join(t.TempDir(), "fly.toml"), "run from the repository root or pass --config"},
		{"not TOML", writeFlyToml(t, "[http_service\n"), "fly.toml: toml:"},
		{"check without a path", writeFlyToml(t, "[[http_service.checks]]\n  method = \"GET\"\n"), `health check 1 has path "": set path to the URL path the service answers healthy on`},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := runVerify(map[string]string{}, "--url", "http://127.0.0.1:1", "--expect-release", newRelease, "--config", c.config)
			if inv.code != exitUsage || !strings.Contains(inv.stderr.String(), c.want) {
				t.Errorf("exit %d, want %d and %q:\n%s", inv.code, exitUsage, c.want, &inv.stderr)
			}
		})
	}
}

func TestAServiceWithoutVersionIsToldToKeepIt(t *testing.T) {
	config := writeFlyToml(t, "[[http_service.checks]]\n  path = \"/healthz\"\n")
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)

	inv := runVerify(map[string]string{}, "--url", srv.URL, "--expect-release", newRelease, "--config", config, "--timeout", "1500ms")

	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s", inv.code, &inv.stdout)
	}
	if want := "the service must serve /version (keep it when you replace /ping)"; !strings.Contains(inv.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &inv.stderr)
	}
}
