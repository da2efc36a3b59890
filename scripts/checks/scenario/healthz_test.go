package scenario

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/servicebuild"
	"scripts/internal/testkit"
)

// replaceHealthCheck makes the user's own health check: /ping and its
// handler become /healthz with another body, in the service and its tests,
// and fly.toml's check points at it.
func replaceHealthCheck(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	handler := regexp.MustCompile(`\bping\b`)
	for _, f := range files {
		name := filepath.Base(f)
		text := readFile(t, dir, name)
		text = strings.ReplaceAll(text, "/ping", "/healthz")
		text = handler.ReplaceAllString(text, "healthz")
		text = strings.ReplaceAll(text, `{"message":"pong"}`, `{"status":"ok"}`)
		writeFile(t, dir, name, text)
	}
	if strings.Contains(readFile(t, dir, "routes.go"), `"/ping"`) {
		t.Fatal("routes.go still serves /ping")
	}
	edit(t, dir, "fly.toml", `(?m)^(\s*path\s*=\s*)"/ping"`, `${1}"/healthz"`)
}

// A service whose health check is /healthz, with no /ping, passes the
// checks, CI's image-job verification and the deploy's verification.
func TestServiceWithItsOwnHealthCheckAndNoPingIsVerified(t *testing.T) {
	testkit.FullTier(t)
	if testing.Short() {
		t.Skip("skipping with -short: the scenario runs the check packages on a copy of the repository")
	}
	t.Parallel()
	dir := copyRepo(t)
	replaceHealthCheck(t, dir)
	commit(t, dir, "healthz instead of ping")

	if passed, out := runChecks(t, dir); !passed {
		t.Errorf("with /healthz as the health check and no /ping, the checks fail:\n%s", failures(out))
	}
	// What the flake checks run on the service (tests, vet, gofmt), with its build tags.
	tags := strings.TrimSpace(run(t, scriptsDir(t), []string{"SCRIPTS_REPO_ROOT=" + dir}, "go", "run", "./cmd/flakeattr", "tags"))
	run(t, dir, nil, "go", "vet", "-tags", tags, "./...")
	run(t, dir, nil, "go", "test", "-count=1", "-tags", tags, "./...")
	if unformatted := strings.TrimSpace(run(t, dir, nil, "gofmt", "-l", ".")); unformatted != "" {
		t.Errorf("gofmt would change %s", unformatted)
	}

	// CI's image job: the service started with FLY_IMAGE_REF, then
	// scripts/verify from the repository root, as ci.yml runs it.
	bin, err := servicebuild.Build(dir, testkit.ScratchDir(t, "healthz"), "healthz")
	if err != nil {
		t.Fatal(err)
	}
	release := "git-" + strings.TrimSpace(run(t, dir, nil, "git", "rev-parse", "HEAD"))
	base := testkit.StartService(t, bin, "FLY_IMAGE_REF=local/service:"+release)
	out := run(t, dir, nil, filepath.Join(dir, "scripts", "verify"), "--url", base, "--expect-release", release, "--timeout", "1m")
	if want := "(health checks of fly.toml: GET /healthz 200;"; !strings.Contains(out, want) {
		t.Errorf("scripts/verify in the image job's way: output lacks %q:\n%s", want, out)
	}
	if resp, err := http.Get(base + "/ping"); err != nil {
		t.Errorf("GET /ping: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ping answered %d after the edit, want 404: the scenario did not drop /ping", resp.StatusCode)
	}

	// The deploy's verification, through scripts/deploy and the stand-in flyctl.
	deploy := run(t, scriptsDir(t), []string{"SCRIPTS_REPO_ROOT=" + dir, testkit.FullTierEnv + "=all"},
		"go", "test", "-count=1", "-v", "-run", "^TestDeployVerifiesTheRepositorysHealthChecks$", "./checks/pipeline/")
	if !strings.Contains(deploy, "--- PASS: TestDeployVerifiesTheRepositorysHealthChecks") || !strings.Contains(deploy, ": GET /healthz 2") {
		t.Errorf("scripts/deploy did not verify GET /healthz:\n%s", deploy)
	}
}
