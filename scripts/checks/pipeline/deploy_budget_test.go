package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// The deploy job's timeout-minutes follows fly.toml and scripts/deploy:
// `scripts/verify deploy-budget` (cmd/verify/budget.go, where the worst
// case is computed and unit-tested) prints it in a job of its own, and the
// deploy job takes it from that job's output.

var (
	budgetExpr      = regexp.MustCompile(`^\$\{\{\s*fromJSON\(\s*needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\)\s*\}\}$`)
	stepOutputExpr  = regexp.MustCompile(`^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.minutes\s*\}\}$`)
	budgetCommand   = regexp.MustCompile(`scripts/verify deploy-budget\b(.*)`)
	deployTimeouts  = []string{"DEPLOY_BUILD_TIMEOUT", "DEPLOY_VERIFY_TIMEOUT", "DEPLOY_WAIT_TIMEOUT"}
	deployScriptRun = regexp.MustCompile(`(^|\s)scripts/deploy\b`)
)

// budgetStep finds the step that computes the deploy job's timeout-minutes
// and its arguments, or says what is wrong.
func budgetStep(root *yaml.Node) (step *yaml.Node, args []string, problems []string) {
	deploy := path(root, "jobs", "deploy")
	if deploy == nil {
		return nil, nil, []string{"deploy.yml has no job deploy"}
	}
	fix := "set the deploy job's timeout-minutes: ${{ fromJSON(needs.budget.outputs.minutes) }}, from a job budget that runs `scripts/verify deploy-budget` (see docs/design.md, \"Time budget\")"
	tm := get(deploy, "timeout-minutes")
	if tm == nil {
		return nil, nil, []string{"deploy.yml: job deploy has no timeout-minutes: " + fix}
	}
	m := budgetExpr.FindStringSubmatch(tm.Value)
	if m == nil {
		return nil, nil, []string{"deploy.yml: job deploy has timeout-minutes: " + tm.Value + ", a copy that editing fly.toml leaves behind: " + fix}
	}
	jobID, output := m[1], m[2]
	var needs []string
	if n := get(deploy, "needs"); n != nil {
		needs = append(needs, n.Value)
		for _, c := range n.Content {
			needs = append(needs, c.Value)
		}
	}
	if !slices.Contains(needs, jobID) {
		problems = append(problems, "deploy.yml: job deploy takes timeout-minutes from needs."+jobID+" but does not list "+jobID+" in needs:")
	}
	job := path(root, "jobs", jobID)
	out := path(job, "outputs", output)
	if out == nil {
		return nil, nil, append(problems, "deploy.yml: job "+jobID+" has no output "+output+": "+fix)
	}
	s := stepOutputExpr.FindStringSubmatch(out.Value)
	if s == nil {
		return nil, nil, append(problems, "deploy.yml: job "+jobID+" output "+output+" is "+out.Value+", want ${{ steps.<id>.outputs.minutes }} of the step that runs scripts/verify deploy-budget")
	}
	for _, st := range get(job, "steps").Content {
		if id := get(st, "id"); id == nil || id.Value != s[1] {
			continue
		}
		run := get(st, "run")
		if run == nil || budgetCommand.FindStringSubmatch(run.Value) == nil {
			return nil, nil, append(problems, "deploy.yml: job "+jobID+" step "+s[1]+" does not run scripts/verify deploy-budget: "+fix)
		}
		return st, strings.Fields(budgetCommand.FindStringSubmatch(run.Value)[1]), problems
	}
	return nil, nil, append(problems, "deploy.yml: job "+jobID+" has no step with id "+s[1])
}

// budgetProblems also holds the budget step to what the deploy step runs
// with: a timeout set on one and not the other makes the budget wrong.
func budgetProblems(root *yaml.Node) []string {
	step, _, problems := budgetStep(root)
	if step == nil {
		return problems
	}
	var deployStep *yaml.Node
	for _, st := range get(path(root, "jobs", "deploy"), "steps").Content {
		if run := get(st, "run"); run != nil && deployScriptRun.MatchString(run.Value) {
			deployStep = st
		}
	}
	if deployStep == nil {
		return append(problems, "deploy.yml: job deploy has no step that runs scripts/deploy")
	}
	for _, name := range deployTimeouts {
		value := func(st *yaml.Node) string {
			if v := path(st, "env", name); v != nil {
				return v.Value
			}
			return ""
		}
		if d, b := value(deployStep), value(step); d != b {
			problems = append(problems, "deploy.yml: the deploy step has "+name+"="+strconv.Quote(d)+" but the budget step "+strconv.Quote(b)+
				": set the same env: on both, or the deploy job's timeout-minutes misses it")
		}
	}
	return problems
}

func deployWorkflowNode(t *testing.T) *yaml.Node {
	t.Helper()
	return loadYAML(t, filepath.Join(testkit.RepoRoot(t), ".github", "workflows", "deploy.yml"))
}

func TestDeployJobTimeoutFollowsTheBudgetCommand(t *testing.T) {
	for _, p := range budgetProblems(deployWorkflowNode(t)) {
		t.Error(p)
	}
}

// Each way of breaking the link is caught, with the fix named.
func TestDeployBudgetPolicyRejectsEachBreak(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(t *testing.T, root *yaml.Node)
		want   string
	}{
		{"a fixed timeout-minutes", func(t *testing.T, root *yaml.Node) {
			get(path(root, "jobs", "deploy"), "timeout-minutes").Value = "55"
		}, "a copy that editing fly.toml leaves behind"},
		{"the budget job not in needs", func(t *testing.T, root *yaml.Node) {
			jobID, _ := budgetJobOf(t, root)
			needs := get(path(root, "jobs", "deploy"), "needs")
			needs.Content = slices.DeleteFunc(needs.Content, func(n *yaml.Node) bool { return n.Value == jobID })
			if needs.Value == jobID {
				needs.Value = "ci"
			}
		}, "does not list"},
		{"the budget step runs something else", func(t *testing.T, root *yaml.Node) {
			step, _, _ := budgetStep(root)
			get(step, "run").Value = "echo 55"
		}, "does not run scripts/verify deploy-budget"},
		{"a timeout set on the deploy step only", func(t *testing.T, root *yaml.Node) {
			for _, st := range get(path(root, "jobs", "deploy"), "steps").Content {
				if run := get(st, "run"); run != nil && deployScriptRun.MatchString(run.Value) {
					env := get(st, "env")
					env.Content = append(env.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "DEPLOY_WAIT_TIMEOUT"}, &yaml.Node{Kind: yaml.ScalarNode, Value: "10m"})
				}
			}
		}, `DEPLOY_WAIT_TIMEOUT="10m" but the budget step ""`},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := deployWorkflowNode(t)
			c.mutate(t, root)
			got := strings.Join(budgetProblems(root), "\n")
			if !strings.Contains(got, c.want) {
				t.Errorf("problems %q, want one containing %q", got, c.want)
			}
		})
	}
}

func budgetJobOf(t *testing.T, root *yaml.Node) (jobID, output string) {
	t.Helper()
	m := budgetExpr.FindStringSubmatch(get(path(root, "jobs", "deploy"), "timeout-minutes").Value)
	if m == nil {
		t.Fatal("deploy.yml: job deploy's timeout-minutes is not from a budget job")
	}
	return m[1], m[2]
}

// The budget step's command, as the workflow runs it (through the
// scripts/verify wrapper, from the repository root), succeeds on the
// repository's fly.toml and scripts/deploy and prints a whole number of
// minutes that GitHub accepts.
func TestDeployBudgetCommandSucceedsOnTheRepository(t *testing.T) {
	root := testkit.RepoRoot(t)
	step, args, problems := budgetStep(deployWorkflowNode(t))
	if step == nil {
		t.Fatal(strings.Join(problems, "\n"))
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "verify"), append([]string{"deploy-budget"}, args...)...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITHUB_OUTPUT=") && !strings.HasPrefix(kv, "DEPLOY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	env := get(step, "env")
	for _, k := range keys(env) {
		cmd.Env = append(cmd.Env, k+"="+get(env, k).Value)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/verify deploy-budget %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	minutes, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || minutes < 1 || minutes > 360 {
		t.Errorf("scripts/verify deploy-budget printed %q, want whole minutes from 1 to 360 (GitHub's job limit)\n%s", out, stderr.String())
	}
	t.Logf("deploy job timeout-minutes: %d (%s)", minutes, strings.TrimSpace(stderr.String()))
}
