package scenario

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scripts/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) } // removes the compiled checks

// checkPackages are the packages that judge the repository's files. Each
// scenario runs them as scripts/test's default tier does
// (SCRIPTS_TEST_TIER=default: the tests marked testkit.FullTier, which judge
// the machinery on fixtures of their own, are skipped), so a mistake these
// scenarios catch is caught by the default tier.
var checkPackages = []string{"./checks/image/", "./checks/pipeline/", "./internal/flake/"}

// testBinaries holds checkPackages compiled once (go test -c) for every
// scenario of the run: only the repository they judge differs.
var testBinaries struct {
	once sync.Once
	dir  string
	err  error
}

// compiledChecks returns each check package's test binary, keyed by the
// package directory, compiling them on the first call.
func compiledChecks(t *testing.T) map[string]string {
	t.Helper()
	testBinaries.once.Do(func() {
		testBinaries.dir = testkit.ScratchDir(t, "checks")
		for _, pkg := range checkPackages {
			out := filepath.Join(testBinaries.dir, filepath.Base(pkg)+".test")
			cmd := exec.Command("go", "test", "-c", "-o", out, pkg)
			cmd.Dir = scriptsDir(t)
			if b, err := cmd.CombinedOutput(); err != nil {
				testBinaries.err = fmt.Errorf("go test -c %s: %w\n%s", pkg, err, b)
				return
			}
		}
	})
	if testBinaries.err != nil {
		t.Fatal(testBinaries.err)
	}
	bins := map[string]string{}
	for _, pkg := range checkPackages {
		bins[pkg] = filepath.Join(testBinaries.dir, filepath.Base(pkg)+".test")
	}
	return bins
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

// runChecks runs the check packages against the copy in dir as the
// default tier does, and, at the same time, scripts/test's vendorHash
// freshness check; it returns whether all passed and their output.
func runChecks(t *testing.T, dir string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	scripts := scriptsDir(t)
	var cmds []*exec.Cmd
	for _, pkg := range checkPackages {
		cmd := exec.CommandContext(ctx, compiledChecks(t)[pkg], "-test.timeout=4m")
		cmd.Dir = filepath.Join(scripts, pkg) // where go test runs a package's tests
		cmds = append(cmds, cmd)
	}
	cmds = append(cmds, exec.CommandContext(ctx, filepath.Join(scripts, "vendorhash"), "--check", dir))
	outs := make([]bytes.Buffer, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		if cmd.Dir == "" {
			cmd.Dir = scripts
		}
		cmd.Env = append(os.Environ(), "SCRIPTS_REPO_ROOT="+dir, testkit.FullTierEnv+"=default")
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
	requireGreenTemplate(t)
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

// template is the check packages' verdict on an unedited copy, taken once.
var template struct {
	once     sync.Once
	passed   bool
	failing  string
	reported atomic.Bool
}

// requireGreenTemplate runs the checks once on an unedited copy. When they
// fail, every scenario, which copies the same repository, would fail with
// them: the first scenario fails with one line saying so (the check
// packages of this same run report the failure itself) and every other
// scenario is skipped.
func requireGreenTemplate(t *testing.T) {
	t.Helper()
	template.once.Do(func() {
		var out string
		template.passed, out = runChecks(t, copyRepo(t))
		if !template.passed {
			var names []string
			for _, m := range regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`).FindAllStringSubmatch(out, -1) {
				names = append(names, m[1])
			}
			for _, m := range regexp.MustCompile(`(?m)^vendorhash: .*$`).FindAllString(out, -1) {
				names = append(names, strings.TrimSpace(m))
			}
			template.failing = strings.Join(names, ", ")
		}
	})
	if template.passed {
		return
	}
	if template.reported.CompareAndSwap(false, true) {
		t.Fatalf("the scenarios did not run: the repository's own default-tier checks fail (%s); fix those first (scripts/test shows each with its fix): every scenario edits a copy of this repository and would only repeat them", template.failing)
	}
	t.Skip("the repository's own checks fail; see the one scenario that says so")
}
