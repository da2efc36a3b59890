package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// byHand is a scenario where the new release serves (broken) and the
// release of h.oldCommit is the one to roll back to.
func byHand(t *testing.T) (*deployScenario, releaseHistory) {
	t.Helper()
	dir := t.TempDir()
	h := newReleaseHistory(t, filepath.Join(dir, "repo"))
	s := newDeployScenarioAt(t, dir, filepath.Join(h.dir, "fly.toml"), h.oldCommit, h.newCommit, "broken")
	delete(s.env, "GITHUB_SHA") // a rollback by hand deploys no commit of its own
	return s, h
}

func TestRollbackByHandDeploysThatCommitsImageWithItsFlyTomlAndVerifies(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s, h := byHand(t)
	s.plan(1, rollbackOK, 0, s.oldImage)

	r := s.run("--config", s.config, "--rollback", h.oldCommit)

	assertExit(t, r, 0)
	assertCalls(t, r, s.rollbackCall(previousConfig)) // the same command the automatic rollback runs
	if got := s.configOfCall(1); got != h.oldToml {
		t.Errorf("the rollback got fly.toml:\n%s\nwant the one of %s:\n%s", got, h.oldCommit, h.oldToml)
	}
	assertSays(t, r, "rolling back with fly.toml as of "+h.oldCommit)
	assertSays(t, r, "release git-"+h.oldCommit+" is serving at "+s.proxy)
	assertSays(t, r, "git-"+h.oldCommit+" is live again at "+s.proxy)
	s.assertOutputs(map[string]string{"url": s.proxy, "release": "git-" + h.oldCommit, "rolled_back": "true"})
}

func TestRollbackByHandThatDoesNotServeFails(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s, h := byHand(t)
	s.env["DEPLOY_VERIFY_TIMEOUT"] = "2s"
	s.plan(1, rollbackOK, 0, "broken")

	r := s.run("--config", s.config, "--rollback", h.oldCommit)

	assertExit(t, r, 1)
	assertCalls(t, r, s.rollbackCall(previousConfig))
	assertSays(t, r, "rolled back to "+s.oldImage+", but git-"+h.oldCommit+" does not answer at "+s.proxy)
}

func TestRollbackByHandRejectsBadInputBeforeDeploying(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	s, h := byHand(t)
	// A commit of the repository that has no fly.toml.
	gitRepo(t, h.dir, "rm", "-q", "fly.toml")
	gitRepo(t, h.dir, "commit", "-q", "-m", "no fly.toml")
	noToml := gitRepo(t, h.dir, "rev-parse", "HEAD")
	gitRepo(t, h.dir, "checkout", "-q", h.newCommit)
	for _, c := range []struct {
		name, arg string
		code      int
		want      string
	}{
		{"a tag", "v1.0", 2, "--rollback needs the full 40-hex (lower-case) commit of a release, got 'v1.0'"},
		{"a short sha", h.oldCommit[:12], 2, "--rollback needs the full 40-hex"},
		{"an unknown commit", oldSHA, 1, "commit " + oldSHA + " is not in the repository at " + h.dir + ", nor on its origin"},
		{"a commit without fly.toml", noToml, 1, "commit " + noToml + " has no fly.toml ("},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := s.run("--config", s.config, "--rollback", c.arg)
			assertExit(t, r, c.code)
			assertCalls(t, r)
			assertSays(t, r, c.want)
		})
	}
	r := s.run("--rollback")
	assertExit(t, r, 2)
	assertSays(t, r, "--rollback needs the commit of the release to roll back to")
}

func TestFlyctlOfAnotherVersionThanDeployYmlPinsIsWarnedAbout(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	pinned := pinnedFlyctlVersion(t)
	s := newDeployScenario(t, oldImage)
	s.env["FAKE_FLYCTL_VERSION"] = "0.3.49"
	s.env["GITHUB_ACTIONS"] = "true"
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, newImage)

	r := s.run("--config", s.config)

	assertExit(t, r, 0) // a warning: the deploy goes on
	assertCalls(t, r, s.statusCall(), s.deployCall())
	assertSays(t, r, "deploy: warning: flyctl is 0.3.49, not "+pinned+", the version deploy.yml pins and this script is tested with")
	assertSays(t, r, "::warning title=Deploy::flyctl is 0.3.49, not "+pinned)

	s = newDeployScenario(t, oldImage) // the pinned version: no warning
	s.plan(1, twoReleases(), 0, "")
	s.plan(2, deployedOK, 0, newImage)
	if r := s.run("--config", s.config); r.code != 0 || strings.Contains(r.output(), "warning") {
		t.Errorf("flyctl %s (the pin): exit %d, want 0 and no warning:\n%s", pinned, r.code, r.output())
	}
}
