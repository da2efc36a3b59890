package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"scripts/internal/testkit"
)

const (
	newSHA     = "1111111111111111111111111111111111111111"
	oldSHA     = "0000000000000000000000000000000000000000"
	newRelease = "git-" + newSHA
	oldRelease = "git-" + oldSHA
	app        = "verify-test-app"
)

func imageRef(release string) string { return "registry.fly.io/" + app + ":" + release }

// invocation runs verify in-process against an environment of its own.
type invocation struct {
	env            map[string]string
	stdout, stderr bytes.Buffer
	code           int
	elapsed        time.Duration
}

// actionsEnv is what a GitHub Actions step sees: the marker and the files.
func actionsEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
}

// repoFlyToml is the repository's fly.toml, whose checks the service answers.
var repoFlyToml = filepath.Join("..", "..", "..", "fly.toml")

// runVerify runs verify; a probe without --config gets the repository's
// fly.toml.
func runVerify(env map[string]string, args ...string) *invocation {
	if slices.Contains(args, "--url") && !slices.Contains(args, "--config") {
		args = append([]string{"--config", repoFlyToml}, args...)
	}
	inv := &invocation{env: env}
	start := time.Now()
	inv.code = run(args, strings.NewReader(""), &inv.stdout, &inv.stderr, func(k string) string { return env[k] })
	inv.elapsed = time.Since(start)
	return inv
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}

// attempts reads the attempt count from verify's success line.
func attempts(t *testing.T, stdout string) int {
	t.Helper()
	m := regexp.MustCompile(`; attempt (\d+) after `).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no attempt count in:\n%s", stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestExpectedReleaseIsVerifiedWithASummary(t *testing.T) {
	testkit.FullTier(t)
	base := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease), "FLY_MACHINE_ID=148e21ea7e5e89", "FLY_REGION=ams")
	env := actionsEnv(t)

	inv := runVerify(env, "--url", base+"/", "--expect-release", newRelease, "--timeout", "10s")

	if inv.code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", inv.code, &inv.stdout, &inv.stderr)
	}
	if want := "verify: release " + newRelease + " is serving at " + base + " (health checks of " + repoFlyToml + ": GET "; !strings.Contains(inv.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, &inv.stdout)
	}
	if !regexp.MustCompile(`; last probe \d+\.\dms\)`).MatchString(inv.stdout.String()) {
		t.Errorf("stdout does not give the last probe's latency like 1.2ms:\n%s", &inv.stdout)
	}
	if _, err := os.Stat(env["GITHUB_OUTPUT"]); err == nil {
		t.Errorf("verify wrote step outputs; scripts/deploy owns its step's outputs")
	}
	summary := readFile(t, env["GITHUB_STEP_SUMMARY"])
	for _, want := range []string{
		"✅ Rollout verified: `" + newRelease + "`",
		"| endpoint | status | latency | release | machine | region |",
		" | " + newRelease + " | 148e21ea7e5e89 | ams |",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if !regexp.MustCompile(`(?m)^\| GET /version \| 200 \| \d+\.\dms \| `).MatchString(summary) {
		t.Errorf("summary has no /version row with status 200 and a latency:\n%s", summary)
	}
	if !regexp.MustCompile(`(?m)^\| GET /\S+ \| 2\d\d \| \d+\.\dms \|  \|  \|  \|$`).MatchString(summary) {
		t.Errorf("summary has no row for fly.toml's health check:\n%s", summary)
	}
}

func TestVersionFieldMatchesWhenNoImageRef(t *testing.T) {
	testkit.FullTier(t)
	base := startService(t) // no FLY_IMAGE_REF: only the linked version names the release
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", builtVersion, "--timeout", "5s")
	if inv.code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", inv.code, &inv.stderr)
	}
	if want := "release " + builtVersion + " is serving at " + base; !strings.Contains(inv.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, &inv.stdout)
	}
	if strings.Contains(inv.stdout.String(), "::") {
		t.Errorf("workflow commands printed outside Actions:\n%s", &inv.stdout)
	}
}

func TestRolloutSwitchingFromOldToNewRelease(t *testing.T) {
	testkit.FullTier(t)
	oldBase := startService(t, "FLY_IMAGE_REF="+imageRef(oldRelease))
	newBase := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease))
	proxy := switchingProxy(t, oldBase, newBase, 1500*time.Millisecond)
	env := actionsEnv(t)

	inv := runVerify(env, "--url", proxy.URL, "--expect-release", newRelease, "--timeout", "20s")

	if inv.code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s", inv.code, &inv.stdout)
	}
	if n := attempts(t, inv.stdout.String()); n < 2 || !strings.Contains(inv.stdout.String(), "release "+newRelease+" is serving") {
		t.Errorf("want release %s after more than one attempt (old release served first), got attempt %d:\n%s", newRelease, n, &inv.stdout)
	}
	if inv.elapsed < 1500*time.Millisecond {
		t.Errorf("verified after %s, before the proxy switched to the new release", inv.elapsed)
	}
}

func TestReleaseThatNeverArrivesNamesTheOldOneAndKeepsTheDeadline(t *testing.T) {
	testkit.FullTier(t)
	base := startService(t, "FLY_IMAGE_REF="+imageRef(oldRelease), "FLY_MACHINE_ID=e286065f969386", "FLY_REGION=fra")
	env := actionsEnv(t)
	timeout := 2 * time.Second

	inv := runVerify(env, "--url", base, "--expect-release", newRelease, "--timeout", timeout.String())

	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1", inv.code)
	}
	if inv.elapsed < timeout || inv.elapsed > timeout+time.Second {
		t.Errorf("gave up after %s, want just after the %s deadline", inv.elapsed, timeout)
	}
	wantErr := "::error title=Rollout not verified::release " + newRelease + " not serving at " + base +
		" within 2s ("
	if !strings.Contains(inv.stdout.String(), wantErr) {
		t.Errorf("stdout lacks %q:\n%s", wantErr, &inv.stdout)
	}
	wantProblem := "old release still serving: " + oldRelease + ` (image_ref "` + imageRef(oldRelease) + `", version "` +
		builtVersion + `") on machine e286065f969386 in fra, want ` + newRelease
	if !strings.Contains(inv.stdout.String(), wantProblem) {
		t.Errorf("annotation does not name the old release; want %q in:\n%s", wantProblem, &inv.stdout)
	}
	summary := readFile(t, env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(summary, "❌ Rollout not verified") || !strings.Contains(summary, "**Problem:** old release still serving: "+oldRelease) {
		t.Errorf("summary does not report the failure:\n%s", summary)
	}
	if !regexp.MustCompile(`within 2s \(\d+ attempts\)`).MatchString(inv.stdout.String()) {
		t.Errorf("annotation does not count the attempts:\n%s", &inv.stdout)
	}
}

func TestServiceUnavailableThenRecovery(t *testing.T) {
	testkit.FullTier(t)
	base := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease))
	proxy := failingFirstProxy(t, base, 2)

	inv := runVerify(map[string]string{}, "--url", proxy.URL, "--expect-release", newRelease, "--timeout", "20s")

	if inv.code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", inv.code, &inv.stderr)
	}
	if n := attempts(t, inv.stdout.String()); n != 3 {
		t.Errorf("success on attempt %d, want the third after two 503s; stdout:\n%s", n, &inv.stdout)
	}
}

func TestPersistent5xxIsReported(t *testing.T) {
	testkit.FullTier(t)
	base := startService(t, "FLY_IMAGE_REF="+imageRef(newRelease))
	proxy := failingFirstProxy(t, base, 1<<30)

	inv := runVerify(map[string]string{}, "--url", proxy.URL, "--expect-release", newRelease, "--timeout", "1500ms")

	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1", inv.code)
	}
	want := "GET /version answered HTTP 503 Service Unavailable: the app is reachable but failing"
	if !strings.Contains(inv.stderr.String(), "verify: error: ") || !strings.Contains(inv.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &inv.stderr)
	}
}

func TestDeadPortSaysConnectionRefused(t *testing.T) {
	testkit.FullTier(t)
	base := "http://127.0.0.1:" + testkit.FreePort(t)
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--timeout", "1s")
	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1", inv.code)
	}
	want := "connection refused by " + strings.TrimPrefix(base, "http://") + ": nothing is listening there"
	if !strings.Contains(inv.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &inv.stderr)
	}
	if inv.elapsed > 2*time.Second {
		t.Errorf("took %s with a 1s timeout", inv.elapsed)
	}
}

func TestSilentServerIsCutOffAtTheDeadline(t *testing.T) {
	testkit.FullTier(t)
	base := silentListener(t)
	timeout := 1500 * time.Millisecond
	inv := runVerify(map[string]string{}, "--url", base, "--expect-release", newRelease, "--timeout", timeout.String())
	if inv.code != exitFail {
		t.Fatalf("exit %d, want 1", inv.code)
	}
	if inv.elapsed > timeout+500*time.Millisecond {
		t.Errorf("took %s with a %s timeout: a hanging request outlived the deadline", inv.elapsed, timeout)
	}
	if !strings.Contains(inv.stderr.String(), "request timed out") {
		t.Errorf("stderr does not say the request timed out:\n%s", &inv.stderr)
	}
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no url", []string{"--expect-release", "x"}, "--url is required"},
		{"no release", []string{"--url", "http://127.0.0.1:1"}, "--expect-release is required"},
		{"not http", []string{"--url", "ftp://h", "--expect-release", "x"}, `--url "ftp://h" is not an http(s) URL`},
		{"no host", []string{"--url", "127.0.0.1:8080", "--expect-release", "x"}, "is not an http(s) URL with a host"},
		{"zero timeout", []string{"--url", "http://h", "--expect-release", "x", "--timeout", "0s"}, "--timeout must be positive"},
		{"bad duration", []string{"--url", "http://h", "--expect-release", "x", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"--url", "http://h", "--expect-release", "x", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := runVerify(map[string]string{}, tc.args...)
			if inv.code != exitUsage {
				t.Errorf("exit %d, want %d", inv.code, exitUsage)
			}
			if !strings.Contains(inv.stderr.String(), tc.want) || !strings.Contains(inv.stderr.String(), "usage: verify --url URL") {
				t.Errorf("stderr lacks %q and the usage line:\n%s", tc.want, &inv.stderr)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	inv := runVerify(map[string]string{}, "-h")
	if inv.code != exitOK || !strings.Contains(inv.stderr.String(), "--expect-release") {
		t.Errorf("-h: exit %d, output:\n%s", inv.code, &inv.stderr)
	}
}

func TestWrapperKeepsTheExitCode(t *testing.T) {
	testkit.FullTier(t)
	root := filepath.Join("..", "..")
	cmd := execCommand(filepath.Join(root, "verify"), "--bogus")
	err := cmd.Run()
	if code := exitCode(err); code != exitUsage {
		t.Errorf("scripts/verify --bogus exited %d (%v), want %d", code, err, exitUsage)
	}
}
