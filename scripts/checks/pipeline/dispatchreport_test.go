package pipeline

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// A workflow_dispatch run of ci.yml (vendorhash.yml starts one for the commit
// it pushes) has check runs that the pull request does not show, so its
// report job posts every other job's result as a commit status named like
// that job: a required check of that name then passes or fails with it.

var resultRef = regexp.MustCompile(`^\$\{\{\s*needs\.([A-Za-z0-9_-]+)\.result\s*\}\}$`)

// reportProblems lists what keeps ci.yml's report job (the one job with
// statuses: write) from reporting each other job by its name.
func reportProblems(wf workflow) []string {
	var reports, others []job
	for _, j := range wf.jobs() {
		if v := path(j.node, "permissions", "statuses"); v != nil && v.Value == "write" {
			reports = append(reports, j)
		} else {
			others = append(others, j)
		}
	}
	if len(reports) != 1 {
		return []string{fmt.Sprintf("%s: want exactly one job with statuses: write (the report of a workflow_dispatch run), has %d", wf.file, len(reports))}
	}
	r := reports[0]
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: job %s: ", wf.file, r.id)+fmt.Sprintf(format, args...))
	}
	if cond := get(r.node, "if"); cond == nil || !strings.Contains(cond.Value, "always()") || !dispatchOnly(wf, r) {
		add("needs if: ${{ always() && github.event_name == 'workflow_dispatch' }} (dispatched runs only, and failed jobs reported too)")
	}
	for _, step := range r.steps() {
		if u := get(step, "uses"); u != nil {
			add("uses %s: the report needs no checkout and no action, only gh api", u.Value)
		}
	}
	var post *yaml.Node
	for _, step := range r.steps() {
		if run := get(step, "run"); run != nil && strings.Contains(run.Value, "repos/$GITHUB_REPOSITORY/statuses/$GITHUB_SHA") {
			post = step
		}
	}
	if post == nil {
		add("needs a step that runs gh api repos/$GITHUB_REPOSITORY/statuses/$GITHUB_SHA (a commit status on the tested commit)")
		return problems
	}
	run := get(post, "run").Value
	for _, want := range []string{"gh api", "state=", "context=", "target_url=", "$GITHUB_RUN_ID"} {
		if !strings.Contains(run, want) {
			add("the status step must post %s (gh api ... -f state= -f context=<job name> -f target_url=<this run's URL, from $GITHUB_RUN_ID>)", want)
		}
	}
	if tok := path(post, "env", "GH_TOKEN"); tok == nil || tok.Value != "${{ github.token }}" {
		add("the status step needs env GH_TOKEN: ${{ github.token }}")
	}
	resultVar := map[string]string{} // job id -> env variable holding its result
	env := get(post, "env")
	for _, k := range keys(env) {
		if m := resultRef.FindStringSubmatch(get(env, k).Value); m != nil {
			resultVar[m[1]] = k
		}
	}
	needs := needsOf(r)
	for _, o := range others {
		if !slices.Contains(needs, o.id) {
			add("needs: lacks %s: it must wait for every other job to report it", o.id)
		}
		n := get(o.node, "name")
		if n == nil || n.Value == "" {
			continue // TestNamesTimeoutsAndConcurrencyEverywhere asks for the name
		}
		v, ok := resultVar[o.id]
		if !ok {
			add("the status step needs an env variable set to ${{ needs.%s.result }} (job %q)", o.id, n.Value)
			continue
		}
		ref := regexp.MustCompile(`\$\{?` + regexp.QuoteMeta(v) + `\b`)
		if !slices.ContainsFunc(strings.Split(run, "\n"), func(line string) bool {
			return strings.Contains(line, n.Value) && ref.MatchString(line)
		}) {
			add("no line of the status step pairs job %s's name %q (the status context, the name a required check uses) with its result $%s", o.id, n.Value, v)
		}
	}
	return problems
}

func needsOf(j job) []string {
	n := get(j.node, "needs")
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

func TestDispatchedCIReportsEveryJobByItsNameAsACommitStatus(t *testing.T) {
	for _, p := range reportProblems(workflowNamed(t, "ci.yml")) {
		t.Error(p)
	}
}

// editedCI is ci.yml as parsed, changed by edit.
func editedCI(t *testing.T, edit func(jobs *yaml.Node)) workflow {
	t.Helper()
	root := loadYAML(t, filepath.Join(testkit.RepoRoot(t), ".github", "workflows", "ci.yml"))
	edit(get(root, "jobs"))
	return workflow{file: "ci.yml", root: root}
}

func firstReportedJob(t *testing.T, jobs *yaml.Node) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		if get(jobs.Content[i+1], "permissions") != nil && path(jobs.Content[i+1], "permissions", "statuses") == nil {
			return jobs.Content[i+1]
		}
	}
	t.Fatal("ci.yml has no job besides the report")
	return nil
}

func TestTheReportCheckFailsWhenAJobIsAddedRenamedOrNotAwaited(t *testing.T) {
	for _, c := range []struct {
		what, wantInProblem string
		edit                func(t *testing.T, jobs *yaml.Node)
	}{
		{"a job added without a report", "added-job", func(t *testing.T, jobs *yaml.Node) {
			var copied yaml.Node
			b, _ := yaml.Marshal(firstReportedJob(t, jobs))
			if err := yaml.Unmarshal(b, &copied); err != nil {
				t.Fatal(err)
			}
			body := copied.Content[0]
			get(body, "name").Value = "An added job"
			jobs.Content = append(jobs.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "added-job"}, body)
		}},
		{"a job renamed", "A renamed job", func(t *testing.T, jobs *yaml.Node) {
			get(firstReportedJob(t, jobs), "name").Value = "A renamed job"
		}},
		{"the report no longer gated with always()", "always()", func(t *testing.T, jobs *yaml.Node) {
			for i := 1; i < len(jobs.Content); i += 2 {
				if cond := get(jobs.Content[i], "if"); cond != nil && path(jobs.Content[i], "permissions", "statuses") != nil {
					cond.Value = strings.ReplaceAll(cond.Value, "always() && ", "")
				}
			}
		}},
	} {
		problems := reportProblems(editedCI(t, func(jobs *yaml.Node) { c.edit(t, jobs) }))
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, c.wantInProblem) }) {
			t.Errorf("%s: the report check does not name %q; problems: %q", c.what, c.wantInProblem, problems)
		}
	}
}
