package pipeline

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"scripts/internal/testkit"
)

const (
	e2eApp   = "example-e2e"
	newSHA   = "2222222222222222222222222222222222222222"
	oldSHA   = "1111111111111111111111111111111111111111"
	oldImage = "registry.fly.io/" + e2eApp + ":git-" + oldSHA
	newImage = "registry.fly.io/" + e2eApp + ":git-" + newSHA
)

func imageOf(commit string) string { return "registry.fly.io/" + e2eApp + ":git-" + commit }

// fakeFlyctl answers `version` as flyctl v0.4.87 prints it
// (internal/buildinfo/buildinfo.go, info.String) for FAKE_FLYCTL_VERSION,
// unrecorded. It records every other call's argv (one line) and the file it
// got as --config (N.config), and plays call N from the plan directory: N.out is
// printed (N.err to stderr), N.sleep makes it hang, N.serve becomes what the stand-in proxy
// serves, N.rc is the exit code (default 0).
const fakeFlyctl = `#!/usr/bin/env bash
set -euo pipefail
dir="$FAKE_FLYCTL_DIR"
if [[ "${1:-}" == version ]]; then
  echo "flyctl v$FAKE_FLYCTL_VERSION linux/amd64 Commit: 3eb236fab6a9 BuildDate: 2026-08-21T14:11:32Z"
  exit 0
fi
n=$(( $(wc -l <"$dir/calls") + 1 ))
printf '%s\n' "$*" >>"$dir/calls"
prev=""
for arg in "$@"; do
  if [[ "$prev" == --config ]]; then cp "$arg" "$dir/$n.config"; fi
  prev="$arg"
done
if [[ -z "${FLY_API_TOKEN:-}" ]]; then
  echo "Error: no access token available. Please login with 'flyctl auth login'" >&2
  exit 1
fi
if [[ -f "$dir/$n.out" ]]; then cat "$dir/$n.out"; fi
if [[ -f "$dir/$n.err" ]]; then cat "$dir/$n.err" >&2; fi
if [[ -f "$dir/$n.sleep" ]]; then exec sleep "$(cat "$dir/$n.sleep")"; fi
if [[ -f "$dir/$n.serve" ]]; then cp "$dir/$n.serve" "$dir/serving"; fi
exit "$(cat "$dir/$n.rc" 2>/dev/null || echo 0)"
`

// bsdTail stands in for tail with only the options macOS's tail has too, so
// the deploy tests fail if scripts/deploy relies on GNU-only ones (--pid).
func bsdTail(t *testing.T) string {
	t.Helper()
	real, err := exec.LookPath("tail")
	if err != nil {
		t.Fatalf("tail not found: %v", err)
	}
	return `#!/usr/bin/env bash
for arg in "$@"; do
  case "$arg" in
    --*) echo "tail: illegal option -- $arg (GNU-only; not on macOS)" >&2; exit 1 ;;
  esac
done
exec ` + real + ` "$@"
`
}

// Output as flyctl v0.4.87 prints it (internal/command/deploy).
const (
	buildOK = "==> Building image\nimage: " + newImage + "\nimage size: 9.8 MB\n\n" +
		"Watch your deployment at https://fly.io/apps/" + e2eApp + "/monitoring\n\n"
	deployedOK = buildOK + "Creating green machines\nVisit your newly deployed app at https://" + e2eApp + ".fly.dev/\n"
	depotEOF   = "==> Building image\nWaiting for depot builder...\n" +
		"Error: failed to fetch an image or build from source: error building: unexpected EOF\n"
	dockerfileBug = "==> Building image\n#9 ERROR: process \"/bin/sh -c nix build .#default\" did not complete successfully: exit code: 1\n" +
		"Error: failed to fetch an image or build from source: failed to solve: process \"/bin/sh -c nix build .#default\" did not complete successfully: exit code: 1\n"
	// rolling: the first machine updated keeps the new image.
	healthChecksFailed = buildOK + "Updating existing machines in '" + e2eApp + "' with rolling strategy\n" +
		"Error: failed to wait for health checks to pass: timeout reached waiting for health checks to pass for machine 148e21ea7e5e89\n"
	// bluegreen: the green machines are destroyed, blue keeps serving
	// (strategy_bluegreen.go, Rollback).
	bluegreenFailed = buildOK + "Updating existing machines in '" + e2eApp + "' with bluegreen strategy\n\n" +
		"Creating green machines\n  Created machine 3d8d9ecc2ed618 [app]\n\nWaiting for all green machines to start\n\n" +
		"Waiting for all green machines to be healthy\n\nRolling back failed deployment\n  Deleted machine 3d8d9ecc2ed618\n" +
		"Error: wait timeout\ncould not get all green machines to be healthy\n"
	rollbackOK = "==> Verifying image\n\nWatch your deployment at https://fly.io/apps/" + e2eApp + "/monitoring\n\nVisit your newly deployed app\n"
)

func statusJSON(machines ...string) string {
	return `{"ID": "` + e2eApp + `", "Name": "` + e2eApp + `", "Deployed": true, "Status": "deployed", "Machines": [` +
		strings.Join(machines, ",") + `]}`
}

func machineJSON(id, image string, release int) string {
	return fmt.Sprintf(`{"id": %q, "state": "started", "region": "ams", "config": {"image": %q, "metadata": {"fly_release_version": "%d"}}}`,
		id, image, release)
}

// deployScenario is one run of scripts/deploy against the stand-in flyctl
// and the real service behind a stand-in Fly proxy.
type deployScenario struct {
	t                *testing.T
	dir              string
	fakeDir          string
	config           string
	proxy            string
	env              map[string]string
	oldImage, newSHA string
}

// testFlyToml is the fly.toml the scenarios deploy.
const testFlyToml = "# test app\napp = '" + e2eApp + "'  # the name\nprimary_region = \"ams\"\n\n[deploy]\n  strategy = \"bluegreen\"\n"

func newDeployScenario(t *testing.T, servingNow string) *deployScenario {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "fly.toml")
	mustWrite(t, config, testFlyToml, 0o644)
	return newDeployScenarioAt(t, dir, config, oldSHA, newSHA, servingNow)
}

// newDeployScenarioAt is a scenario deploying config (already written) as
// commit newCommit, with the image of oldCommit serving before (when
// servingNow names it).
func newDeployScenarioAt(t *testing.T, dir, config, oldCommit, newCommit, servingNow string) *deployScenario {
	t.Helper()
	s := &deployScenario{t: t, dir: dir, fakeDir: filepath.Join(dir, "fake"), config: config,
		oldImage: imageOf(oldCommit), newSHA: newCommit}
	mustWrite(t, filepath.Join(dir, "bin", "flyctl"), fakeFlyctl, 0o755)
	mustWrite(t, filepath.Join(dir, "bin", "tail"), bsdTail(t), 0o755)
	mustWrite(t, filepath.Join(s.fakeDir, "calls"), "", 0o644)
	mustWrite(t, filepath.Join(s.fakeDir, "serving"), servingNow, 0o644)
	s.proxy = flyProxy(t, filepath.Join(s.fakeDir, "serving"), map[string]string{
		s.oldImage:         startService(t, s.oldImage),
		imageOf(newCommit): startService(t, imageOf(newCommit)),
	}).URL
	s.env = map[string]string{
		"PATH":                  filepath.Join(dir, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_FLYCTL_DIR":       s.fakeDir,
		"FLY_API_TOKEN":         "FlyV1 fm2_test-token",
		"GITHUB_SHA":            newCommit,
		"GITHUB_OUTPUT":         filepath.Join(dir, "github-output"),
		"GITHUB_STEP_SUMMARY":   filepath.Join(dir, "github-step-summary"),
		"DEPLOY_VERIFY_URL":     s.proxy,
		"DEPLOY_VERIFY_TIMEOUT": "20s",
		"FAKE_FLYCTL_VERSION":   pinnedFlyctlVersion(t),
	}
	return s
}

// pinnedFlyctlVersion is the version deploy.yml's setup-flyctl step installs.
func pinnedFlyctlVersion(t *testing.T) string {
	t.Helper()
	wf := workflowNamed(t, "deploy.yml")
	for _, j := range wf.jobs() {
		for _, step := range j.steps() {
			if uses := get(step, "uses"); uses != nil && strings.HasPrefix(uses.Value, "superfly/flyctl-actions/setup-flyctl@") {
				if v := path(step, "with", "version"); v != nil && v.Value != "" {
					return v.Value
				}
				t.Fatalf("deploy.yml: setup-flyctl has no with.version: pin the flyctl the deploy runs")
			}
		}
	}
	t.Fatalf("deploy.yml has no superfly/flyctl-actions/setup-flyctl step")
	return ""
}

// plan sets what call n (1-based) of flyctl prints, returns and serves.
func (s *deployScenario) plan(n int, out string, rc int, serve string) {
	s.t.Helper()
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".out"), out, 0o644)
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".rc"), strconv.Itoa(rc), 0o644)
	if serve != "" {
		mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".serve"), serve, 0o644)
	}
}

// planError makes call n print msg to stderr and exit 1, as flyctl reports
// an error.
func (s *deployScenario) planError(n int, msg string) {
	s.t.Helper()
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".err"), msg, 0o644)
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".rc"), "1", 0o644)
}

func (s *deployScenario) hang(n int, out string) {
	s.t.Helper()
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".out"), out, 0o644)
	mustWrite(s.t, filepath.Join(s.fakeDir, strconv.Itoa(n)+".sleep"), "60", 0o644)
}

type deployRun struct {
	code           int
	stdout, stderr string
	calls          []string
	elapsed        time.Duration
}

func (r deployRun) output() string { return r.stdout + r.stderr }

func (s *deployScenario) run(args ...string) deployRun {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(testkit.RepoRoot(s.t), "scripts", "deploy"), args...)
	cmd.Env = cleanEnv()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := deployRun{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("running scripts/deploy: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.fakeDir, "calls"))
	if err != nil {
		s.t.Fatal(err)
	}
	if trimmed := strings.TrimSpace(string(b)); trimmed != "" {
		r.calls = strings.Split(previousConfigArg.ReplaceAllString(trimmed, "--config "+previousConfig), "\n")
	}
	return r
}

// previousConfig stands for the temporary file scripts/deploy writes the
// previous commit's fly.toml to, in the calls a run records.
const previousConfig = "<previous fly.toml>"

var previousConfigArg = regexp.MustCompile(`--config \S*/previous\.fly\.toml`)

// configOfCall is the fly.toml flyctl call n (1-based) got as --config.
func (s *deployScenario) configOfCall(n int) string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.fakeDir, strconv.Itoa(n)+".config"))
	if err != nil {
		s.t.Fatalf("flyctl call %d got no --config: %v", n, err)
	}
	return string(b)
}

// cleanEnv is the test process's environment without anything the deploy
// could pick up from a surrounding GitHub Actions job or shell.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", strings.HasPrefix(name, "GITHUB_"), strings.HasPrefix(name, "FLY_"),
			strings.HasPrefix(name, "DEPLOY_"), name == "FLYCTL":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func mustWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func (s *deployScenario) statusCall() string { return "status --json --app " + e2eApp }

func (s *deployScenario) deployCall() string {
	return "deploy --config " + s.config + " --app " + e2eApp + " --remote-only --image-label git-" + s.newSHA + " --yes"
}

// rollbackCall is the rollback deploy with config as fly.toml: s.config
// (the fallback) or previousConfig.
func (s *deployScenario) rollbackCall(config string) string {
	return "deploy --config " + config + " --app " + e2eApp + " --image " + s.oldImage + " --strategy immediate --yes"
}

func assertCalls(t *testing.T, r deployRun, want ...string) {
	t.Helper()
	if strings.Join(r.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("flyctl calls:\n  %s\nwant:\n  %s\noutput:\n%s", strings.Join(r.calls, "\n  "), strings.Join(want, "\n  "), r.output())
	}
}

func assertExit(t *testing.T, r deployRun, want int) {
	t.Helper()
	if r.code != want {
		t.Errorf("scripts/deploy exited %d, want %d\noutput:\n%s", r.code, want, r.output())
	}
}

func assertSays(t *testing.T, r deployRun, want string) {
	t.Helper()
	if !strings.Contains(r.output(), want) {
		t.Errorf("scripts/deploy output lacks %q:\n%s", want, r.output())
	}
}

// twoReleases is an app whose newest release (7) runs the old image and
// whose leftover machine still runs release 6.
func twoReleases() string { return twoReleasesOf(oldImage) }

func twoReleasesOf(old string) string {
	return statusJSON(machineJSON("e286065f969386", "registry.fly.io/"+e2eApp+":git-6666666666666666666666666666666666666666", 6),
		machineJSON("148e21ea7e5e89", old, 7))
}

// oneMachineOnTheNewImage is the app after a failed rolling deploy: the
// first machine updated runs the new image, the other the old one.
func oneMachineOnTheNewImage(s *deployScenario) string {
	return statusJSON(machineJSON("148e21ea7e5e89", imageOf(s.newSHA), 8), machineJSON("e286065f969386", s.oldImage, 7))
}

func TestDeploySucceedsAndWritesOutputs(t *testing.T) {
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 0)
	assertCalls(t, r, s.statusCall(), s.deployCall())
	assertSays(t, r, "serving now: "+oldImage+" (rollback target)")
	assertSays(t, r, "release git-"+newSHA+" is serving at "+s.proxy)
	assertSays(t, r, deployedOK) // flyctl's output, streamed whole
	s.assertOutputs(map[string]string{
		"url": s.proxy, "release": "git-" + newSHA, "previous_image": oldImage, "rolled_back": "false",
	})
	s.assertSummary("### ✅ Rollout verified: `git-"+newSHA+"` at "+s.proxy,
		"**Deployed** `git-"+newSHA+"` to "+s.proxy+" (previous image: `"+oldImage+"`)")
}

// assertOutputs checks that GITHUB_OUTPUT holds exactly these outputs, each
// written once (in name=value or name<<DELIM form).
func (s *deployScenario) assertOutputs(want map[string]string) {
	s.t.Helper()
	b, err := os.ReadFile(s.env["GITHUB_OUTPUT"])
	if err != nil {
		s.t.Fatalf("reading GITHUB_OUTPUT: %v", err)
	}
	got := map[string][]string{}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var value []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				value = append(value, lines[i])
			}
			got[name] = append(got[name], strings.Join(value, "\n"))
		} else if name, value, ok := strings.Cut(lines[i], "="); ok {
			got[name] = append(got[name], value)
		} else if lines[i] != "" {
			s.t.Errorf("GITHUB_OUTPUT line %q is neither name=value nor name<<DELIM", lines[i])
		}
	}
	for name, values := range got {
		if len(values) != 1 {
			s.t.Errorf("GITHUB_OUTPUT sets %s %d times (%q): one writer, once", name, len(values), values)
		}
		if _, ok := want[name]; !ok {
			s.t.Errorf("GITHUB_OUTPUT has unexpected output %s=%q", name, values)
		}
	}
	for name, value := range want {
		if v := got[name]; len(v) == 0 || v[len(v)-1] != value {
			s.t.Errorf("GITHUB_OUTPUT %s = %q, want %q\n%s", name, v, value, b)
		}
	}
}

func (s *deployScenario) assertSummary(wants ...string) {
	s.t.Helper()
	b, err := os.ReadFile(s.env["GITHUB_STEP_SUMMARY"])
	if err != nil {
		s.t.Fatalf("reading the job summary: %v", err)
	}
	for _, want := range wants {
		if !strings.Contains(string(b), want) {
			s.t.Errorf("job summary lacks %q:\n%s", want, b)
		}
	}
}

func TestRemoteBuilderFailureIsRetriedOnceWithoutDepot(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, depotEOF, 1, "")
	s.plan(3, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 0)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.deployCall()+" --depot=false")
	assertSays(t, r, "the remote builder failed before the rollout (Error: failed to fetch an image or build from source: error building: unexpected EOF); retrying once with --depot=false")
}

func TestHungBuilderIsStoppedAndRetriedWithoutDepot(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.env["DEPLOY_BUILD_TIMEOUT"] = "2"
	s.plan(1, twoReleases(), 0, "")
	s.hang(2, "==> Building image\nWaiting for depot builder...\n")
	s.plan(3, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 0)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.deployCall()+" --depot=false")
	assertSays(t, r, "no rollout after 2s: the image build looks hung; stopping flyctl")
	if r.elapsed > 30*time.Second {
		t.Errorf("took %s: the hung flyctl (sleeping 60s) was not stopped", r.elapsed)
	}
}

func TestBuilderFailingTwiceStopsWithoutChangingAnything(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, depotEOF, 1, "")
	s.plan(3, "==> Building image\nError: failed to fetch an image or build from source: error connecting to builder: deadline exceeded\n", 1, "")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.deployCall()+" --depot=false")
	assertSays(t, r, "flyctl deploy failed twice before the rollout, on Depot and on the legacy builder")
	if strings.Contains(r.output(), "verifying") {
		t.Errorf("verified although nothing was deployed:\n%s", r.output())
	}
}

func TestBuildStepFailureIsNotRetriedNorVerified(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, dockerfileBug, 1, "")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall())
	assertSays(t, r, "flyctl deploy failed before the rollout, not because of the builder")
	if strings.Contains(r.output(), "verifying") {
		t.Errorf("verified after a failed deploy:\n%s", r.output())
	}
}

func TestBluegreenFailureKeepsThePreviousReleaseWithoutASecondDeploy(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	// The error text mentions nothing of the builder, and the image was
	// pushed ("Watch your deployment"): a builder retry would be wrong. The
	// green machines are gone, so the proxy still serves the old image.
	s.plan(2, bluegreenFailed, 1, "")
	s.plan(3, twoReleases(), 0, "")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.statusCall()) // no deploy --image
	assertSays(t, r, "flyctl deploy failed during the rollout of git-"+newSHA)
	assertSays(t, r, "release git-"+oldSHA+" is serving at "+s.proxy)
	assertSays(t, r, "no machine runs git-"+newSHA+", so nothing was rolled back: the previous release is "+oldImage+", which still serves")
	s.assertOutputs(map[string]string{
		"url": s.proxy, "release": "git-" + newSHA, "previous_image": oldImage, "rolled_back": "false",
	})
}

// A re-run of the deploy job (or a dispatch on main with no new commit)
// deploys the release that already serves: its machines carry the label, so
// they say nothing about the failed rollout, and a rollback would redeploy
// the failed release itself.
func TestRedeployOfTheServingReleaseIsNeverRolledBackToItself(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	for _, tc := range []struct {
		name           string
		deployOut      string
		deployRC       int
		serve, message string
	}{
		{"failed rollout", bluegreenFailed, 1, "", "so nothing was rolled back, and it still serves"},
		{"failed verification", deployedOK, 0, "broken", "there is no earlier release to roll back to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			config := filepath.Join(dir, "fly.toml")
			mustWrite(t, config, testFlyToml, 0o644)
			s := newDeployScenarioAt(t, dir, config, newSHA, newSHA, newImage)
			s.env["DEPLOY_VERIFY_TIMEOUT"] = "2s"
			s.plan(1, twoReleasesOf(newImage), 0, "")
			s.plan(2, tc.deployOut, tc.deployRC, tc.serve)

			r := s.run("--config", s.config)

			assertExit(t, r, 1)
			assertCalls(t, r, s.statusCall(), s.deployCall()) // no status read, no deploy --image
			assertSays(t, r, "before this run (the same commit deployed again)")
			assertSays(t, r, tc.message)
		})
	}
}

func TestBluegreenFailureWithThePreviousReleaseDownSaysSo(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.env["DEPLOY_VERIFY_TIMEOUT"] = "2s"
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, bluegreenFailed, 1, "broken")
	s.plan(3, twoReleases(), 0, "")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.statusCall())
	assertSays(t, r, "so nothing was rolled back: the previous release is "+oldImage+", but git-"+oldSHA+" does not answer at "+s.proxy+" either")
}

func TestFailedVerificationRollsBackToTheRecordedImage(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.env["DEPLOY_VERIFY_TIMEOUT"] = "3s"
	s.env["GITHUB_ACTIONS"] = "true"
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, "") // flyctl says done, yet the old release keeps serving
	s.plan(3, rollbackOK, 0, oldImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	// flyctl succeeded, so every machine runs the new image: no status check.
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.rollbackCall(s.config))
	assertSays(t, r, "old release still serving: git-"+oldSHA)
	assertSays(t, r, "::error title=Deploy failed::git-"+newSHA+" did not pass verification at "+s.proxy+"; rolled back to "+oldImage+", which is serving again")
	s.assertSummary("### ❌ Rollout not verified: `git-"+newSHA+"`",
		"### ✅ Rollout verified: `git-"+oldSHA+"`",
		"**Deploy failed:** git-"+newSHA+" did not pass verification")
	// The rollback's verification must not relabel the step: release stays
	// what this run deployed, and rolled_back says what happened.
	s.assertOutputs(map[string]string{
		"url": s.proxy, "release": "git-" + newSHA, "previous_image": oldImage, "rolled_back": "true",
	})
}

func TestVerifyThatCannotRunStopsWithoutRollingBack(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	// No scheme: scripts/verify rejects its --url with exit 2 (usage), which
	// says nothing about the release that was just deployed.
	s.env["DEPLOY_VERIFY_URL"] = strings.TrimPrefix(s.proxy, "http://")
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall()) // no deploy --image
	assertSays(t, r, "is not an http(s) URL with a host")
	assertSays(t, r, "scripts/verify could not run (exit 2, see above), so git-"+newSHA+" at "+s.env["DEPLOY_VERIFY_URL"]+
		" is deployed but NOT verified; not rolling back a release that may be healthy")
	assertSays(t, r, "and if it fails, roll back: scripts/deploy --rollback "+oldSHA)
	if strings.Contains(r.output(), "rolling back to") {
		t.Errorf("rolled back although verification never ran:\n%s", r.output())
	}
	s.assertOutputs(map[string]string{
		"url": s.env["DEPLOY_VERIFY_URL"], "release": "git-" + newSHA, "previous_image": oldImage, "rolled_back": "false",
	})
}

func TestBadVerifyTimeoutIsRefusedBeforeAnyFlyctlCall(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	for _, bad := range []string{"3", "3 m", "soon", "0s", "0m0.0s", "-1m", "3min"} {
		s.env["DEPLOY_VERIFY_TIMEOUT"] = bad

		r := s.run("--config", s.config)

		assertExit(t, r, 2)
		assertCalls(t, r)
		assertSays(t, r, "DEPLOY_VERIFY_TIMEOUT must be a positive Go duration such as 3m, 90s or 1m30s, got '"+bad+"'")
	}
}

func TestFirstDeployThatFailsVerificationHasNothingToRollBackTo(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, "")
	s.env["DEPLOY_VERIFY_TIMEOUT"] = "2s"
	s.plan(1, statusJSON(), 0, "")
	s.plan(2, deployedOK, 0, "broken")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall())
	assertSays(t, r, "first deploy: nothing to roll back to\n")
	assertSays(t, r, "did not pass verification at "+s.proxy+"; first deploy: nothing to roll back to")
	assertSays(t, r, "HTTP 503")
}

func TestFailingRollbackSaysHowToRollBackByHand(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, healthChecksFailed, 1, "broken")
	s.plan(3, oneMachineOnTheNewImage(s), 0, "")
	s.plan(4, "Error: failed to update machine e286065f969386: unavailable\n", 1, "")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall(), s.deployCall(), s.statusCall(), s.rollbackCall(s.config))
	assertSays(t, r, "the rollback to "+oldImage+" failed too (Error: failed to update machine e286065f969386: unavailable). Roll back by hand:\n  scripts/deploy --rollback "+oldSHA)
}

func TestMissingTokenFailsBeforeAnyFlyctlCall(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	for _, token := range []string{"unset", ""} {
		s := newDeployScenario(t, oldImage)
		if token == "unset" {
			delete(s.env, "FLY_API_TOKEN")
		} else {
			s.env["FLY_API_TOKEN"] = token
		}

		r := s.run("--config", s.config)

		assertExit(t, r, 1)
		assertCalls(t, r)
		assertSays(t, r, "FLY_API_TOKEN is not set")
		assertSays(t, r, "fly tokens create deploy -a "+e2eApp+" -x 720h")
		assertSays(t, r, "FLY_API_TOKEN secret of the 'production' environment")
	}
}

func TestRejectedTokenStopsAtStatus(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	s.planError(1, "Error: You must be authenticated to view this.\n")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall())
	assertSays(t, r, "flyctl status --app "+e2eApp+" failed, so there is no known image to roll back to; not deploying")
}

func TestDeployReadsTheAppFromTheRepositorysFlyToml(t *testing.T) {
	t.Parallel()
	var cfg struct {
		App string `toml:"app"`
	}
	flyToml := filepath.Join(testkit.RepoRoot(t), "fly.toml")
	if _, err := toml.DecodeFile(flyToml, &cfg); err != nil {
		t.Fatalf("decoding %s: %v", flyToml, err)
	}
	if cfg.App == "" {
		t.Fatalf("%s has no app", flyToml)
	}
	s := newDeployScenario(t, oldImage)
	delete(s.env, "FLY_API_TOKEN")

	r := s.run() // default --config: the repository's fly.toml

	assertExit(t, r, 1)
	assertCalls(t, r)
	assertSays(t, r, "fly tokens create deploy -a "+cfg.App+" -x 720h")
}

func TestDeployUsageAndBadArguments(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, oldImage)
	if r := s.run("-h"); r.code != 0 || !strings.Contains(r.stdout, "usage: scripts/deploy") {
		t.Errorf("-h: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{{"--bogus"}, {"--config"}} {
		r := s.run(args...)
		assertExit(t, r, 2)
		assertCalls(t, r)
		assertSays(t, r, "usage: scripts/deploy")
	}
	s.env["GITHUB_SHA"] = "main"
	r := s.run("--config", s.config)
	assertExit(t, r, 1)
	assertCalls(t, r)
	assertSays(t, r, "commit 'main' is not a full 40-hex SHA")
}

func TestDirtyTreeIsRefusedWhenTheCommitComesFromGit(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	testkit.RequireTool(t, "git", "apt-get install git (needed to build a throwaway repository)")
	s := newDeployScenario(t, oldImage)
	delete(s.env, "GITHUB_SHA")
	// A copy of the script in a throwaway repository with an uncommitted change.
	repoDir := filepath.Join(s.dir, "repo")
	script, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "scripts", "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(repoDir, "scripts", "deploy"), string(script), 0o755)
	mustWrite(t, filepath.Join(repoDir, "fly.toml"), "app = \""+e2eApp+"\"\n", 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init"}} {
		git := exec.Command("git", args...)
		git.Dir = repoDir
		if out, err := git.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	mustWrite(t, filepath.Join(repoDir, "fly.toml"), "app = \""+e2eApp+"\"\n# edited\n", 0o644)

	cmd := exec.Command(filepath.Join(repoDir, "scripts", "deploy"))
	cmd.Env = cleanEnv()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit %v, want 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "the working tree has uncommitted changes") {
		t.Errorf("output lacks the dirty-tree refusal:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(s.fakeDir, "calls")); len(b) != 0 {
		t.Errorf("flyctl was called: %s", b)
	}
}

// The deploy verifies what the repository's fly.toml says makes the service
// healthy, on the real service: every [[http_service.checks]] must pass.
func TestDeployVerifiesTheRepositorysHealthChecks(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	src := filepath.Join(testkit.RepoRoot(t), "fly.toml")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTPService struct {
			Checks []struct{ Method, Path string } `toml:"checks"`
		} `toml:"http_service"`
	}
	if _, err := toml.Decode(string(b), &cfg); err != nil {
		t.Fatalf("decoding %s: %v", src, err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "fly.toml")
	mustWrite(t, config, regexp.MustCompile(`(?m)^app = .*$`).ReplaceAllString(string(b), `app = "`+e2eApp+`"`), 0o644)
	s := newDeployScenarioAt(t, dir, config, oldSHA, newSHA, oldImage)
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 0)
	assertCalls(t, r, s.statusCall(), s.deployCall())
	want := "(no [[http_service.checks]] in " + config
	if len(cfg.HTTPService.Checks) > 0 {
		c := cfg.HTTPService.Checks[0]
		want = "(health checks of " + config + ": " + strings.ToUpper(cmp.Or(c.Method, "GET")) + " " + c.Path + " 2"
	}
	assertSays(t, r, want)
	t.Logf("verified as: %s", want)
}
