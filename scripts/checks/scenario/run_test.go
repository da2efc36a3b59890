package scenario

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"scripts/internal/testkit"
)

// checkPackages are the packages that judge the repository's files.
var checkPackages = []string{"./checks/image/", "./checks/pipeline/", "./internal/flake/"}

// slowUnrelated are tests skipped in every scenario to keep the run short:
// scripts/deploy's retry and rollback paths on its own fixture fly.toml
// (TestDeploySucceedsAndWritesOutputs and TestDeployReadsTheAppFromTheRepositorysFlyToml
// still run the copy's scripts/deploy), the tests check phase run on a
// fixture module, and the shellcheck check phase (no scenario edits a shell
// script; scripts/test runs shellcheck on them). scripts/test runs them all.
var slowUnrelated = []string{
	"TestTestsCheckPhasesWriteReports",
	"TestShellcheckCheckScript",
	"TestRemoteBuilderFailureIsRetriedOnceWithoutDepot",
	"TestHungBuilderIsStoppedAndRetriedWithoutDepot",
	"TestBuilderFailingTwiceStopsWithoutChangingAnything",
	"TestBuildStepFailureIsNotRetriedNorVerified",
	"TestBluegreenFailureKeepsThePreviousReleaseWithoutASecondDeploy",
	"TestBluegreenFailureWithThePreviousReleaseDownSaysSo",
	"TestRedeployOfTheServingReleaseIsNeverRolledBackToItself",
	"TestRollingFailureRollsBackWithThePreviousCommitsFlyToml",
	"TestRollbackFromAShallowCheckoutFetchesThePreviousFlyToml",
	"TestRollbackWithoutThePreviousFlyTomlFallsBackToTheCurrentOne",
	"TestFailedVerificationRollsBackToTheRecordedImage",
	"TestVerifyThatCannotRunStopsWithoutRollingBack",
	"TestBadVerifyTimeoutIsRefusedBeforeAnyFlyctlCall",
	"TestFirstDeployThatFailsVerificationHasNothingToRollBackTo",
	"TestFailingRollbackSaysHowToRollBackByHand",
}

// scriptsDir is this scripts/ module: the tests run from its checks/scenario.
func scriptsDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// copyRepo copies the repository into a new git repository with one commit.
func copyRepo(t *testing.T) string {
	t.Helper()
	return testkit.CopyRepo(t, filepath.Join(scriptsDir(t), ".."))
}

// commit records the work tree as a user would after an edit: git add -A.
func commit(t *testing.T, dir, message string) {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=scenario", "-c", "user.email=scenario@example.com", "commit", "-q", "--allow-empty", "-m", message},
	} {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil && args[0] == "init" {
			continue
		}
		run(t, dir, nil, "git", args...)
	}
}

// run runs a command in dir and fails the test if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// runChecks runs the check packages against the copy in dir, and, at the
// same time, scripts/test's vendorHash freshness check; it returns whether
// all passed and their output.
func runChecks(t *testing.T, dir string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	scripts := scriptsDir(t)
	args := append([]string{"test", "-count=1", "-skip", "^(" + strings.Join(slowUnrelated, "|") + ")$"}, checkPackages...)
	cmds := []*exec.Cmd{
		exec.CommandContext(ctx, "go", args...),
		exec.CommandContext(ctx, filepath.Join(scripts, "vendorhash"), "--check", dir),
	}
	outs := make([]bytes.Buffer, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		cmd.Dir = scripts
		cmd.Env = append(os.Environ(), "SCRIPTS_REPO_ROOT="+dir)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Run() }()
	}
	wg.Wait()
	passed, out := true, ""
	for i, cmd := range cmds {
		out += outs[i].String()
		if errs[i] != nil {
			passed = false
			out += "\n(" + strings.Join(cmd.Args, " ") + ": " + errs[i].Error() + ")\n"
		}
	}
	return passed, out
}

// failures picks the failing tests' messages (with their continuation
// lines) and vendorhash's complaints out of the output.
func failures(out string) string {
	var lines []string
	inMessage := false
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "--- FAIL"):
			lines, inMessage = append(lines, line), false
		case strings.Contains(line, "_test.go:"), strings.HasPrefix(trimmed, "vendorhash:"), strings.HasPrefix(trimmed, "stale"):
			lines, inMessage = append(lines, line), true
		case strings.HasPrefix(trimmed, "---"), strings.HasPrefix(trimmed, "==="), strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "ok"):
			inMessage = false
		case inMessage && trimmed != "":
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return out
	}
	return strings.Join(lines, "\n")
}

// scenario is one edit of the copy: a routine edit (edit) after which
// every check must pass, or a mistake whose returned patterns must each
// match the failure output, naming the fix.
type scenario struct {
	name    string
	edit    func(t *testing.T, dir string)
	mistake func(t *testing.T, dir string) (fixes []string)
}

func (s scenario) run(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping with -short: each scenario runs the check packages on a copy of the repository")
	}
	t.Parallel() // at most GOMAXPROCS (go test -parallel) at once
	dir := copyRepo(t)
	var fixes []string
	if s.mistake != nil {
		fixes = s.mistake(t, dir)
	} else {
		s.edit(t, dir)
	}
	commit(t, dir, s.name)
	passed, out := runChecks(t, dir)
	switch {
	case s.mistake == nil && !passed:
		t.Errorf("a routine edit (%s) fails the checks:\n%s", s.name, failures(out))
	case s.mistake != nil && passed:
		t.Errorf("a mistake (%s) passes every check", s.name)
	case s.mistake != nil:
		for _, fix := range fixes {
			if !regexp.MustCompile(fix).MatchString(out) {
				t.Errorf("a mistake (%s) fails the checks, but no message matches %q, which names the fix:\n%s", s.name, fix, failures(out))
			}
		}
	}
}
