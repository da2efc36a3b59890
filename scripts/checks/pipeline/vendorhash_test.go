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

// The vendorHash workflow commits to Dependabot's gomod pull requests with a
// write token; these tests hold it to what makes that safe.

func vendorhashJob(t *testing.T) (workflow, job) {
	t.Helper()
	wf := workflowNamed(t, "vendorhash.yml")
	jobs := wf.jobs()
	if len(jobs) != 1 {
		t.Fatalf("vendorhash.yml: want one job (the refresh), has %d", len(jobs))
	}
	return wf, jobs[0]
}

func TestVendorhashRunsOnlyOnDependabotsGomodPullRequestsFromThisRepository(t *testing.T) {
	wf, j := vendorhashJob(t)
	if got := strings.Join(triggers(wf), ","); got != "pull_request" {
		t.Errorf("vendorhash.yml triggers = %s, want pull_request only (never pull_request_target: the write token must not meet code from a fork)", got)
	}
	if paths := path(wf.root, "on", "pull_request", "paths"); paths != nil {
		var got []string
		for _, p := range paths.Content {
			got = append(got, p.Value)
		}
		if !contains(got, "go.mod") || !contains(got, "go.sum") {
			t.Errorf("vendorhash.yml: on.pull_request.paths %v must include go.mod and go.sum (what a gomod bump of the root module changes)", got)
		}
	}
	cond := get(j.node, "if")
	if cond == nil {
		t.Fatalf("vendorhash.yml job %s has no if: it would run with a write token on every pull request", j.id)
	}
	for _, want := range []struct{ fragment, why string }{
		{"github.event.pull_request.user.login == 'dependabot[bot]'", "the pull request's author; github.actor can be someone else (zizmor bot-conditions)"},
		{"github.event.pull_request.head.repo.full_name == github.repository", "a fork's branch cannot be pushed, and its code must not run with a write token"},
		{"'" + dependabotGomodBranchPrefix(t) + "'", "Dependabot's gomod branches; its other ecosystems need no refresh"},
	} {
		if !strings.Contains(cond.Value, want.fragment) {
			t.Errorf("vendorhash.yml job %s: if: must contain %s (%s), has %q", j.id, want.fragment, want.why, cond.Value)
		}
	}
	if strings.Contains(cond.Value, "github.actor") || strings.Contains(cond.Value, "||") {
		t.Errorf("vendorhash.yml job %s: if: %q must be a conjunction of the conditions above, without github.actor", j.id, cond.Value)
	}
	if !dependabotOnly(wf, j) {
		t.Errorf("vendorhash.yml job %s is not recognised as limited to Dependabot's pull requests from this repository", j.id)
	}
}

// dependabotGomodBranchPrefix is the branch prefix of Dependabot's gomod pull
// requests: dependabot/<package manager>/..., the package manager of gomod
// being go_modules, unless dependabot.yml renames the branches.
func dependabotGomodBranchPrefix(t *testing.T) string {
	t.Helper()
	root := loadYAML(t, filepath.Join(testkit.RepoRoot(t), ".github", "dependabot.yml"))
	for _, u := range get(root, "updates").Content {
		if eco := get(u, "package-ecosystem"); eco != nil && eco.Value == "gomod" && get(u, "pull-request-branch-name") != nil {
			t.Fatalf("dependabot.yml: gomod sets pull-request-branch-name; vendorhash.yml matches Dependabot's default branch names (dependabot/go_modules/...): remove it or match the new names in both files")
		}
	}
	return "dependabot/go_modules/"
}

func TestVendorhashJobHoldsOnlyWhatItsPushAndDispatchNeed(t *testing.T) {
	_, j := vendorhashJob(t)
	p := get(j.node, "permissions")
	got := map[string]string{}
	for _, k := range keys(p) {
		got[k] = get(p, k).Value
	}
	if len(got) != len(dependabotWrites) || got["contents"] != "write" || got["actions"] != "write" {
		t.Errorf("vendorhash.yml job %s permissions = %v, want exactly %v (contents to push the fix, actions to dispatch ci.yml)", j.id, got, dependabotWrites)
	}
	var checkout, refresh, dispatch *yaml.Node
	for _, step := range j.steps() {
		uses, run := get(step, "uses"), get(step, "run")
		switch {
		case uses != nil && strings.HasPrefix(uses.Value, "actions/checkout@"):
			checkout = step
		case run != nil && strings.Contains(run.Value, "scripts/refresh-vendorhash --push"):
			refresh = step
		case run != nil && strings.Contains(run.Value, "gh workflow run ci.yml"):
			dispatch = step
		}
	}
	if checkout == nil || refresh == nil || dispatch == nil {
		t.Fatalf("vendorhash.yml job %s needs a checkout, a step running scripts/refresh-vendorhash --push and one running gh workflow run ci.yml", j.id)
	}
	if ref := path(checkout, "with", "ref"); ref == nil || !strings.Contains(ref.Value, "github.head_ref") {
		t.Errorf("vendorhash.yml: the checkout needs with: ref: ${{ github.head_ref }} (the pull request's branch, not its merge commit)")
	}
	if run := get(refresh, "run").Value; !strings.Contains(run, "nix shell .#default.go --command") {
		t.Errorf("vendorhash.yml: run scripts/refresh-vendorhash with the package's own Go (nix shell .#default.go --command ...), runs %q", run)
	}
	id := get(refresh, "id")
	if cond := get(dispatch, "if"); id == nil || cond == nil || !strings.Contains(cond.Value, "steps."+id.Value+".outputs.pushed == 'true'") {
		t.Errorf("vendorhash.yml: dispatch ci.yml only when the refresh step (with an id) pushed a commit (if: steps.<id>.outputs.pushed == 'true')")
	}
	run := get(dispatch, "run").Value
	if tok := path(dispatch, "env", "GH_TOKEN"); tok == nil || tok.Value != "${{ github.token }}" || !strings.Contains(run, "--ref") {
		t.Errorf("vendorhash.yml: the dispatch step runs gh workflow run ci.yml --ref <the pull request's branch> with env GH_TOKEN: ${{ github.token }} (no other secret exists on a Dependabot run)")
	}
}

// TestTheWriteTokenRunsNoDependencyCode: the vendorHash job runs
// scripts/refresh-vendorhash with a write token; what it builds from this
// repository must import nothing but the standard library and this module,
// so no code a dependency bump brings in is compiled or run there.
func TestTheWriteTokenRunsNoDependencyCode(t *testing.T) {
	root := testkit.RepoRoot(t)
	script := filepath.Join(root, "scripts", "refresh-vendorhash")
	info, err := os.Stat(script)
	if err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("vendorhash.yml runs scripts/refresh-vendorhash, which is missing or not executable (%v)", err)
	}
	cmdRef := regexp.MustCompile(`\./cmd/[A-Za-z0-9_-]+`)
	var pkgs []string
	for _, name := range []string{"refresh-vendorhash", "vendorhash"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", name))
		if err == nil {
			pkgs = append(pkgs, cmdRef.FindAllString(string(b), -1)...)
		}
	}
	if len(pkgs) == 0 {
		t.Fatalf("scripts/refresh-vendorhash and scripts/vendorhash build no ./cmd/... package: nothing to check")
	}
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(root, "scripts")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	b, err := exec.Command("go", "-C", cmd.Dir, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m in scripts/: %v", err)
	}
	module := strings.TrimSpace(string(b))
	for _, imp := range strings.Fields(string(out)) {
		if imp != module && !strings.HasPrefix(imp, module+"/") {
			t.Errorf("%v imports %s: code a Dependabot bump can change would run with vendorhash.yml's write token; keep the vendorHash tool to the standard library", pkgs, imp)
		}
	}
}
