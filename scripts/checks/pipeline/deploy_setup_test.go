package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// Until the one-time setup sets a repository variable, a push to main runs
// CI and a notice; after it, the deploy (whose missing or rejected token
// fails the run, see deploy_test.go).

const notSetUpScript = "scripts/deploy-not-set-up"

var (
	ifExpr   = regexp.MustCompile(`^\$\{\{\s*(.*?)\s*\}\}$`)
	ifTerm   = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*)\s*(==|!=)\s*'([^']*)'$`)
	setupVar = regexp.MustCompile(`vars\.([A-Za-z_][A-Za-z0-9_]*)`)
)

// runsWhen evaluates a job's if: for the given contexts (github.ref,
// vars.NAME; an unset variable is ”). It understands the form the deploy
// workflow uses, && of == and != comparisons with a string, which GitHub
// compares ignoring case (docs.github.com/en/actions/reference/evaluate-expressions-in-workflows-and-actions#operators).
func runsWhen(t *testing.T, jobID string, jobNode *yaml.Node, ctx map[string]string) bool {
	t.Helper()
	cond := get(jobNode, "if")
	if cond == nil {
		return true
	}
	m := ifExpr.FindStringSubmatch(strings.TrimSpace(cond.Value))
	if m == nil {
		t.Fatalf("deploy.yml: job %s: if: %q is not one ${{ }} expression", jobID, cond.Value)
	}
	runs := true
	for _, term := range strings.Split(m[1], "&&") {
		tm := ifTerm.FindStringSubmatch(strings.TrimSpace(term))
		if tm == nil {
			t.Fatalf("deploy.yml: job %s: cannot evaluate %q of its if: (this test knows && of <context> == or != '<string>')", jobID, term)
		}
		equal := strings.EqualFold(ctx[tm[1]], tm[3])
		runs = runs && equal == (tm[2] == "==")
	}
	return runs
}

// notSetUpJob is the job that runs scripts/deploy-not-set-up.
func notSetUpJob(t *testing.T, wf workflow) job {
	t.Helper()
	for _, j := range wf.jobs() {
		for _, st := range j.steps() {
			if run := get(st, "run"); run != nil && strings.TrimSpace(run.Value) == notSetUpScript {
				return j
			}
		}
	}
	t.Fatalf("deploy.yml: no job runs %s (the notice a push to main gives before the one-time setup)", notSetUpScript)
	return job{}
}

// deploySwitch is the repository variable the deploy job's if: requires.
func deploySwitch(t *testing.T, wf workflow) string {
	t.Helper()
	cond := get(wf.job(t, "deploy"), "if")
	if cond == nil {
		t.Fatalf("deploy.yml: job deploy has no if:, so it runs (and fails on the missing token) before the one-time setup")
	}
	m := setupVar.FindStringSubmatch(cond.Value)
	if m == nil {
		t.Fatalf("deploy.yml: job deploy's if: %q names no repository variable (vars.<NAME>) that the setup sets", cond.Value)
	}
	return m[1]
}

func TestDeployRunsOnlyAfterTheSetupAndANoticeRunsBefore(t *testing.T) {
	wf := workflowNamed(t, "deploy.yml")
	name := deploySwitch(t, wf)
	budget, _ := budgetJobOf(t, wf.root)
	notice := notSetUpJob(t, wf)
	for _, ref := range []string{"refs/heads/main", "refs/heads/feature"} {
		for _, value := range []string{"", "true", "True", "false", "yes"} {
			ctx := map[string]string{"github.ref": ref, "vars." + name: value}
			enabled := ref == "refs/heads/main" && strings.EqualFold(value, "true")
			for _, c := range []struct {
				id   string
				want bool
			}{
				{"ci", true},
				{"deploy", enabled},
				{budget, enabled},
				{notice.id, ref == "refs/heads/main" && !enabled},
			} {
				if got := runsWhen(t, c.id, wf.job(t, c.id), ctx); got != c.want {
					t.Errorf("deploy.yml on %s with %s=%q: job %s runs=%v, want %v", ref, name, value, c.id, got, c.want)
				}
			}
		}
	}
	if get(notice.node, "environment") != nil {
		t.Errorf("deploy.yml: job %s names an environment: GitHub creates it on the first run, before the setup", notice.id)
	}
	if needs := get(notice.node, "needs"); needs != nil {
		t.Errorf("deploy.yml: job %s needs %s: the notice says what happens whatever CI finds", notice.id, needs.Value)
	}
}

func TestTheSetupSetsTheSwitchTheNoticeNames(t *testing.T) {
	wf := workflowNamed(t, "deploy.yml")
	name := deploySwitch(t, wf)
	root := testkit.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\n## One-time deploy setup\n") || !strings.Contains(string(readme), "`"+name+"`") {
		t.Errorf("README.md needs the section \"## One-time deploy setup\" (the notice links to it) with a step setting `%s`", name)
	}

	dir := t.TempDir()
	summary := filepath.Join(dir, "summary")
	cmd := exec.Command(filepath.Join(root, notSetUpScript))
	cmd.Env = append(cleanEnv(), "GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY="+summary,
		"GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=acme/api", "GITHUB_SHA="+newSHA)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", notSetUpScript, err, out)
	}
	link := "https://github.com/acme/api/blob/" + newSHA + "/README.md#one-time-deploy-setup"
	for _, want := range []string{"::notice title=Deploy not set up::Deploying to Fly.io is not set up yet", link, "repository variable " + name + " to true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s output lacks %q:\n%s", notSetUpScript, want, out)
		}
	}
	if b, err := os.ReadFile(summary); err != nil || !strings.Contains(string(b), "### Deploy not set up") || !strings.Contains(string(b), link) {
		t.Errorf("job summary (%v):\n%s\nwant the notice with the README link", err, b)
	}
}
