package pipeline

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// gitRepo runs git in dir and returns its trimmed output.
func gitRepo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// releaseHistory is a repository whose first commit's fly.toml differs from
// the second's (the release being deployed, which breaks the checks).
type releaseHistory struct {
	dir                string
	oldCommit, oldToml string
	newCommit, newToml string
}

func newReleaseHistory(t *testing.T, dir string) releaseHistory {
	t.Helper()
	testkit.RequireTool(t, "git", "apt-get install git (the rollback reads the previous commit's fly.toml)")
	h := releaseHistory{dir: dir, oldToml: testFlyToml,
		newToml: strings.Replace(testFlyToml, "[deploy]", "[env]\n  BROKEN = \"1\"\n\n[deploy]", 1)}
	mustWrite(t, filepath.Join(dir, "fly.toml"), h.oldToml, 0o644)
	gitRepo(t, dir, "init", "-q")
	gitRepo(t, dir, "add", "fly.toml")
	gitRepo(t, dir, "commit", "-q", "-m", "release that serves")
	h.oldCommit = gitRepo(t, dir, "rev-parse", "HEAD")
	mustWrite(t, filepath.Join(dir, "fly.toml"), h.newToml, 0o644)
	gitRepo(t, dir, "commit", "-q", "-a", "-m", "release that breaks")
	h.newCommit = gitRepo(t, dir, "rev-parse", "HEAD")
	return h
}

// shallowClone clones origin with --depth=1, as actions/checkout does.
func shallowClone(t *testing.T, origin, dir string) {
	t.Helper()
	gitRepo(t, filepath.Dir(dir), "clone", "-q", "--depth=1", "file://"+origin, dir)
	if got := gitRepo(t, dir, "rev-parse", "--is-shallow-repository"); got != "true" {
		t.Fatalf("clone of %s is not shallow (%s)", origin, got)
	}
}

// rollingFailure plans a deploy whose rollout fails with one machine left on
// the new image, then a rollback that serves the old image again.
func (s *deployScenario) rollingFailure() {
	s.plan(1, twoReleasesOf(s.oldImage), 0, "")
	s.plan(2, healthChecksFailed, 1, "broken")
	s.plan(3, oneMachineOnTheNewImage(s), 0, "")
	s.plan(4, rollbackOK, 0, s.oldImage)
}

func (s *deployScenario) assertRolledBack(r deployRun, config string) {
	s.t.Helper()
	assertExit(s.t, r, 1)
	assertCalls(s.t, r, s.statusCall(), s.deployCall(), s.statusCall(), s.rollbackCall(config))
	assertSays(s.t, r, "machines on git-"+s.newSHA+" after the failed rollout: 148e21ea7e5e89\n")
	assertSays(s.t, r, "rolled back to "+s.oldImage+", which is serving again")
	s.assertOutputs(map[string]string{
		"url": s.proxy, "release": "git-" + s.newSHA, "previous_image": s.oldImage, "rolled_back": "true",
	})
}

func TestRollingFailureRollsBackWithThePreviousCommitsFlyToml(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	dir := t.TempDir()
	h := newReleaseHistory(t, filepath.Join(dir, "repo"))
	s := newDeployScenarioAt(t, dir, filepath.Join(h.dir, "fly.toml"), h.oldCommit, h.newCommit, imageOf(h.oldCommit))
	s.rollingFailure()

	r := s.run("--config", s.config)

	s.assertRolledBack(r, previousConfig)
	if got := s.configOfCall(2); got != h.newToml {
		t.Errorf("the deploy got fly.toml:\n%s\nwant the new commit's:\n%s", got, h.newToml)
	}
	if got := s.configOfCall(4); got != h.oldToml {
		t.Errorf("the rollback got fly.toml:\n%s\nwant the previous commit's (%s):\n%s", got, h.oldCommit, h.oldToml)
	}
	assertSays(t, r, "rolling back with fly.toml as of "+h.oldCommit)
}

func TestRollbackFromAShallowCheckoutFetchesThePreviousFlyToml(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	dir := t.TempDir()
	h := newReleaseHistory(t, filepath.Join(dir, "origin"))
	checkout := filepath.Join(dir, "checkout")
	shallowClone(t, h.dir, checkout)
	s := newDeployScenarioAt(t, dir, filepath.Join(checkout, "fly.toml"), h.oldCommit, h.newCommit, imageOf(h.oldCommit))
	s.rollingFailure()

	r := s.run("--config", s.config)

	s.assertRolledBack(r, previousConfig)
	assertSays(t, r, "fetching commit "+h.oldCommit+" (the previous release) for its fly.toml")
	if got := s.configOfCall(4); got != h.oldToml {
		t.Errorf("the rollback got fly.toml:\n%s\nwant the previous commit's, fetched into the shallow checkout:\n%s", got, h.oldToml)
	}
}

func TestRollbackWithoutThePreviousFlyTomlFallsBackToTheCurrentOne(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	dir := t.TempDir()
	h := newReleaseHistory(t, filepath.Join(dir, "origin"))
	checkout := filepath.Join(dir, "checkout")
	shallowClone(t, h.dir, checkout)
	// The previous image names a commit the origin does not have (a
	// force-push, or a deploy from another repository).
	s := newDeployScenarioAt(t, dir, filepath.Join(checkout, "fly.toml"), oldSHA, h.newCommit, oldImage)
	s.rollingFailure()

	r := s.run("--config", s.config)

	s.assertRolledBack(r, s.config)
	assertSays(t, r, "cannot read fly.toml of commit "+oldSHA+" (")
	assertSays(t, r, "rolling back with the current "+s.config+", so a failure caused by fly.toml may repeat")
	if got := s.configOfCall(4); got != h.newToml {
		t.Errorf("the rollback got fly.toml:\n%s\nwant the current one (the fallback):\n%s", got, h.newToml)
	}
}

func TestMissingAppSaysToCreateIt(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s := newDeployScenario(t, "")
	// As flyctl v0.4.87 prints it (internal/cli/cli.go, printError):
	// status.go wraps fly-go v0.9.5's GetAppCompact error, "failed to run
	// <the query, verbatim>: " and the API's GraphQL message.
	s.planError(1, "Error: failed to get app: failed to run \n\t\tquery ($appName: String!) {\n\t\t\tappcompact:app(name: $appName) {\n"+
		"\t\t\t\tid\n\t\t\t\tname\n\t\t\t}\n\t\t}\n\t: Could not find App\n")

	r := s.run("--config", s.config)

	assertExit(t, r, 1)
	assertCalls(t, r, s.statusCall())
	assertSays(t, r, "Fly has no app named "+e2eApp+" that this token can see")
	assertSays(t, r, "fly apps create "+e2eApp+"\n")
	assertSays(t, r, "which works for that one app only: fly tokens create deploy -a "+e2eApp)
	if strings.Contains(r.output(), "token was rejected") {
		t.Errorf("a missing app is reported as a rejected token:\n%s", r.output())
	}
}
