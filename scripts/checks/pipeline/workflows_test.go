package pipeline

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// cacheActions must never run in the deploy job.
var cacheActions = []string{"actions/cache", "nix-community/cache-nix-action", "DeterminateSystems/magic-nix-cache-action"}

var (
	fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// versionComment is the tag a SHA was taken from, as Dependabot writes it
	// back when it bumps the pin (zizmor's ref-version-mismatch compares them).
	versionComment = regexp.MustCompile(`^# v?\d+(\.\d+)*$`)
	actionName     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?$`)
)

type pin struct{ sha, comment, where string }

func TestEveryActionIsPinnedToAFullSHAWithItsVersionComment(t *testing.T) {
	seen := map[string]pin{}
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			if j.reusableCall() {
				if uses := get(j.node, "uses").Value; !strings.HasPrefix(uses, "./.github/workflows/") {
					t.Errorf("%s: job %s calls %q: only this repository's workflows (./.github/workflows/...) may be called", wf.file, j.id, uses)
				}
				continue
			}
			for i, step := range j.steps() {
				usesNode := get(step, "uses")
				if usesNode == nil || strings.HasPrefix(usesNode.Value, "./") {
					continue // no action, or a local one (same commit as the workflow)
				}
				where := wf.file + ": job " + j.id + " step " + stepLabel(step, i)
				action, ref, ok := strings.Cut(usesNode.Value, "@")
				switch {
				case !ok || !actionName.MatchString(action):
					t.Errorf("%s: uses %q: write owner/repo@<full commit SHA> # <tag>", where, usesNode.Value)
					continue
				case !fullSHA.MatchString(ref):
					t.Errorf("%s: %s@%s is not pinned to a full 40-hex commit SHA: use the SHA the tag points to, with the tag as a comment (%s@<sha> # %s)", where, action, ref, action, ref)
					continue
				case !versionComment.MatchString(usesNode.LineComment):
					t.Errorf("%s: %s@%s needs the tag it was taken from as its comment (e.g. # v1.2.3), has %q", where, action, ref, usesNode.LineComment)
					continue
				}
				p := pin{ref, usesNode.LineComment, where}
				if prev, dup := seen[action]; dup && (prev.sha != p.sha || prev.comment != p.comment) {
					t.Errorf("%s pins %s to %s %s, but %s pins it to %s %s: use one pin everywhere", where, action, p.sha, p.comment, prev.where, prev.sha, prev.comment)
				}
				seen[action] = p
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no workflow uses an action: the policy check found nothing to check")
	}
}

func TestThePinRulesRejectTagsShortSHAsAndMissingComments(t *testing.T) {
	sha := strings.Repeat("0a", 20)
	for _, c := range []struct{ uses, comment string }{
		{"some/action@v4", "# v4"},          // a tag moves
		{"some/action@" + sha[:39], "# v4"}, // a short SHA
		{"some/action@" + sha, ""},          // no tag for Dependabot to update
		{"some/action@" + sha, "# main"},    // a branch, not a tag
		{"not-an-action@" + sha, "# v4"},    // not owner/repo
	} {
		action, ref, _ := strings.Cut(c.uses, "@")
		if actionName.MatchString(action) && fullSHA.MatchString(ref) && versionComment.MatchString(c.comment) {
			t.Errorf("%s %s passes the pin rules; it must not", c.uses, c.comment)
		}
	}
	for _, comment := range []string{"# v31.11.0", "# 1.6", "# v28"} {
		if !versionComment.MatchString(comment) {
			t.Errorf("the pin rules reject the tag comment %q", comment)
		}
	}
	if !actionName.MatchString("superfly/flyctl-actions/setup-flyctl") {
		t.Error("the pin rules reject an action in a subdirectory (owner/repo/path)")
	}
}

func TestTopLevelPermissionsAreEmpty(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		p := get(wf.root, "permissions")
		if p == nil || p.Kind != yaml.MappingNode || len(p.Content) != 0 {
			t.Errorf("%s: top-level permissions must be {} (each job then asks for what it needs)", wf.file)
		}
	}
}

// readOnly is what a job may hold: reading the repository. Only the job
// that fixes Dependabot's pull requests (dependabotWrites) may write.
var readOnly = map[string]string{"contents": "read"}

// dependabotWrites is what the vendorHash job may hold, and only while its
// condition admits nothing but Dependabot's pull requests from this
// repository: contents to push the fix, actions to start CI on it.
var dependabotWrites = map[string]string{"contents": "write", "actions": "write"}

// dependabotOnly tells whether a job runs only for Dependabot's pull
// requests from a branch of this repository.
func dependabotOnly(wf workflow, j job) bool {
	cond := get(j.node, "if")
	return strings.Join(triggers(wf), ",") == "pull_request" && cond != nil &&
		strings.Contains(cond.Value, "github.event.pull_request.user.login == 'dependabot[bot]'") &&
		strings.Contains(cond.Value, "github.event.pull_request.head.repo.full_name == github.repository")
}

// dispatchReport is what the job reporting a workflow_dispatch run may hold:
// statuses, to post each job's result on the commit (a dispatched run's
// check runs are not linked to the pull request; its commit statuses are
// shown there).
var dispatchReport = map[string]string{"statuses": "write"}

// dispatchOnly tells whether a job runs only for a workflow_dispatch: its
// if: is a conjunction, without negation, that holds the event name test.
func dispatchOnly(wf workflow, j job) bool {
	cond := get(j.node, "if")
	return slices.Contains(triggers(wf), "workflow_dispatch") && cond != nil &&
		strings.Contains(cond.Value, "github.event_name == 'workflow_dispatch'") &&
		!strings.Contains(cond.Value, "||") && !strings.Contains(cond.Value, "!")
}

// calledJobsAsk is the union of what the jobs of the workflow a job calls
// ask for: the caller must grant it, since a called workflow can only lower
// the caller's GITHUB_TOKEN permissions.
func calledJobsAsk(t *testing.T, j job) map[string]string {
	t.Helper()
	uses := get(j.node, "uses").Value
	file, ok := strings.CutPrefix(uses, "./.github/workflows/")
	if !ok {
		t.Fatalf("job %s calls %q: only this repository's workflows (./.github/workflows/...) may be called", j.id, uses)
	}
	level := map[string]int{"none": 0, "read": 1, "write": 2}
	union := map[string]string{}
	for _, called := range workflowNamed(t, file).jobs() {
		p := get(called.node, "permissions")
		for _, scope := range keys(p) {
			if v := get(p, scope).Value; level[v] > level[union[scope]] {
				union[scope] = v
			}
		}
	}
	return union
}

func TestEveryJobDeclaresMinimalPermissions(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			p := get(j.node, "permissions")
			if p == nil {
				t.Errorf("%s: job %s has no permissions: block", wf.file, j.id)
				continue
			}
			if p.Kind != yaml.MappingNode {
				t.Errorf("%s: job %s permissions %q: list scopes explicitly", wf.file, j.id, p.Value)
				continue
			}
			allowed := readOnly
			switch {
			case dependabotOnly(wf, j):
				allowed = dependabotWrites
			case dispatchOnly(wf, j):
				allowed = dispatchReport
			case j.reusableCall():
				allowed = calledJobsAsk(t, j) // each of those jobs is held to these rules itself
			}
			for _, scope := range keys(p) {
				got, want := get(p, scope).Value, allowed[scope]
				readsWhatItMayWrite := got == "read" && want == "write"
				if got != want && !readsWhatItMayWrite {
					t.Errorf("%s: job %s asks for %s: %s; allowed: %v (contents: write and actions: write only in a job limited to Dependabot's pull requests from this repository, statuses: write only in a job limited to workflow_dispatch, a call only what the called workflow's jobs ask for)",
						wf.file, j.id, scope, got, allowed)
				}
			}
		}
	}
}

func TestCallersGrantExactlyWhatTheCalledWorkflowsJobsAsk(t *testing.T) {
	calls := 0
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			if !j.reusableCall() {
				continue
			}
			calls++
			want := calledJobsAsk(t, j)
			got := map[string]string{}
			p := get(j.node, "permissions")
			for _, scope := range keys(p) {
				got[scope] = get(p, scope).Value
			}
			for scope, v := range want {
				if got[scope] != v {
					t.Errorf("%s: job %s calls %s, whose jobs ask for %s: %s, but grants %s: %q: a called workflow can only lower the caller's permissions; grant %s: %s",
						wf.file, j.id, get(j.node, "uses").Value, scope, v, scope, got[scope], scope, v)
				}
			}
			for scope, v := range got {
				if _, asked := want[scope]; !asked {
					t.Errorf("%s: job %s grants %s: %s, which no job of %s asks for: remove it", wf.file, j.id, scope, v, get(j.node, "uses").Value)
				}
			}
		}
	}
	if calls == 0 {
		t.Fatal("no workflow calls another (deploy.yml calls ci.yml): nothing to check")
	}
}

func TestNoExpressionInsideRun(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			for i, step := range j.steps() {
				if run := get(step, "run"); run != nil && strings.Contains(run.Value, "${{") {
					t.Errorf("%s: job %s step %s: run: contains ${{ }}; pass the value through env: and use \"$VAR\"", wf.file, j.id, stepLabel(step, i))
				}
			}
		}
	}
}

// A Go from nixpkgs by name (nixpkgs#go_1_26) is a second copy of the
// package's Go that a move to the next nixos release leaves behind; the
// package's own Go (buildGoModule's passthru go) follows it.
func TestWorkflowsRunThePackagesOwnGo(t *testing.T) {
	byName := regexp.MustCompile(`nixpkgs#go(_[0-9_]+)?\b`)
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			for i, step := range j.steps() {
				if run := get(step, "run"); run != nil && byName.MatchString(run.Value) {
					t.Errorf("%s: job %s step %s runs %q: use the package's Go, nix shell .#default.go --command ...",
						wf.file, j.id, stepLabel(step, i), byName.FindString(run.Value))
				}
			}
		}
	}
}

// pushes tells whether a job pushes commits: it runs a command with --push
// and holds contents: write.
func pushes(j job) bool {
	if v := path(j.node, "permissions", "contents"); v == nil || v.Value != "write" {
		return false
	}
	for _, step := range j.steps() {
		if run := get(step, "run"); run != nil && strings.Contains(run.Value, "--push") {
			return true
		}
	}
	return false
}

func TestCheckoutsPersistCredentialsOnlyWhereTheJobPushes(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		for _, j := range wf.jobs() {
			for i, step := range j.steps() {
				if u := get(step, "uses"); u == nil || !strings.HasPrefix(u.Value, "actions/checkout@") {
					continue
				}
				v := path(step, "with", "persist-credentials")
				switch {
				case pushes(j) && (v == nil || v.Value != "true"):
					t.Errorf("%s: job %s step %s: the job pushes; say persist-credentials: true so it is explicit", wf.file, j.id, stepLabel(step, i))
				case !pushes(j) && (v == nil || v.Value != "false"):
					t.Errorf("%s: job %s step %s: actions/checkout needs with: persist-credentials: false (the job pushes nothing)", wf.file, j.id, stepLabel(step, i))
				}
			}
		}
	}
}

func TestNoDangerousTriggersOrInheritedSecrets(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		for _, trigger := range triggers(wf) {
			if trigger == "pull_request_target" || trigger == "workflow_run" {
				t.Errorf("%s: trigger %s runs with secrets on code from forks; not allowed", wf.file, trigger)
			}
		}
		for _, j := range wf.jobs() {
			if s := get(j.node, "secrets"); s != nil {
				t.Errorf("%s: job %s passes secrets: to a called workflow (%q); CI needs none", wf.file, j.id, s.Value)
			}
		}
	}
}

func triggers(wf workflow) []string {
	on := get(wf.root, "on")
	switch {
	case on == nil:
		return nil
	case on.Kind == yaml.ScalarNode:
		return []string{on.Value}
	case on.Kind == yaml.SequenceNode:
		var out []string
		for _, c := range on.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return keys(on)
}

func TestSecretsAreOnlyUsedInTheDeployStep(t *testing.T) {
	deploy := workflowNamed(t, "deploy.yml")
	steps := path(deploy.job(t, "deploy"), "steps")
	index := -1
	for i, step := range steps.Content {
		if id := get(step, "id"); id != nil && id.Value == "deploy" {
			index = i
		}
	}
	if index < 0 {
		t.Fatalf("deploy.yml: job deploy has no step with id: deploy (the step that runs scripts/deploy)")
	}
	if run := get(steps.Content[index], "run"); run == nil || !strings.Contains(run.Value, "scripts/deploy") {
		t.Errorf("deploy.yml: the step with id deploy must run scripts/deploy")
	}
	allowed := ".jobs.deploy.steps[" + strconv.Itoa(index) + "].env.FLY_API_TOKEN"
	seen := false
	for _, wf := range loadWorkflows(t) {
		scalars(wf.root, "", func(at string, v *yaml.Node) {
			if !strings.Contains(v.Value, "secrets.") {
				return
			}
			if wf.file == deploy.file && at == allowed && strings.TrimSpace(v.Value) == "${{ secrets.FLY_API_TOKEN }}" {
				seen = true
				return
			}
			t.Errorf("%s: %s uses a secret (%q); only deploy.yml's deploy step may, in its env", wf.file, at, v.Value)
		})
	}
	if !seen {
		t.Errorf("deploy.yml: %s (env of the step with id deploy) must be ${{ secrets.FLY_API_TOKEN }}", allowed)
	}
}

func TestDeployRunsAfterCIInProductionWithoutCancellation(t *testing.T) {
	wf := workflowNamed(t, "deploy.yml")
	if got := triggers(wf); strings.Join(got, ",") != "push,workflow_dispatch" {
		t.Errorf("deploy.yml triggers = %v, want push (main) and workflow_dispatch", got)
	}
	if b := path(wf.root, "on", "push", "branches"); b == nil || len(b.Content) != 1 || b.Content[0].Value != "main" {
		t.Errorf("deploy.yml must run on push to main only")
	}
	ci := wf.job(t, "ci")
	if u := get(ci, "uses"); u == nil || u.Value != "./.github/workflows/ci.yml" {
		t.Errorf("deploy.yml job ci must be uses: ./.github/workflows/ci.yml")
	}
	d := wf.job(t, "deploy")
	needsCI := func(n *yaml.Node) bool {
		return n != nil && (n.Value == "ci" || slices.ContainsFunc(n.Content, func(c *yaml.Node) bool { return c.Value == "ci" }))
	}
	if !needsCI(get(d, "needs")) {
		t.Errorf("deploy.yml job deploy must list ci in its needs: (deploy only what CI passed)")
	}
	if v := get(d, "if"); v == nil || !strings.Contains(v.Value, "github.ref == 'refs/heads/main'") {
		t.Errorf("deploy.yml job deploy must be limited to main (workflow_dispatch can start on any branch)")
	}
	if v := path(d, "environment", "name"); v == nil || v.Value != "production" {
		t.Errorf("deploy.yml job deploy must use environment name: production")
	}
	if v := path(d, "environment", "url"); v == nil || v.Value != "${{ steps.deploy.outputs.url }}" {
		t.Errorf("deploy.yml environment url must come from steps.deploy.outputs.url")
	}
	if v := path(d, "concurrency", "cancel-in-progress"); v == nil || v.Value != "false" {
		t.Errorf("deploy.yml job deploy needs a concurrency group with cancel-in-progress: false")
	}
	if v := path(wf.root, "concurrency", "cancel-in-progress"); v == nil || v.Value != "false" {
		t.Errorf("deploy.yml's workflow concurrency must not cancel a running deploy")
	}
	if g := path(wf.root, "concurrency", "group"); g == nil || !strings.Contains(g.Value, "github.ref") {
		t.Errorf("deploy.yml: the workflow's concurrency group must name the branch (github.ref): a workflow_dispatch on another branch would otherwise wait behind, or displace, a pending deploy of main")
	}
	if g1, g2 := path(wf.root, "concurrency", "group"), path(d, "concurrency", "group"); g1 != nil && g2 != nil && g1.Value == g2.Value {
		t.Errorf("deploy.yml: the job's concurrency group equals the workflow's (%q): the job would wait for its own run", g1.Value)
	}
	if get(d, "env") != nil || get(wf.root, "env") != nil {
		t.Errorf("deploy.yml: no workflow- or job-level env; the token belongs to the deploy step alone")
	}
	for i, step := range get(d, "steps").Content {
		u := get(step, "uses")
		if u == nil {
			continue
		}
		for _, c := range cacheActions {
			if strings.HasPrefix(u.Value, c+"@") {
				t.Errorf("deploy.yml job deploy step %s uses the cache action %s: the deploy job stays cache-free", stepLabel(step, i), c)
			}
		}
		if strings.HasPrefix(u.Value, "superfly/flyctl-actions/setup-flyctl@") {
			if v := path(step, "with", "version"); v == nil || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v.Value) {
				t.Errorf("deploy.yml: setup-flyctl needs with: version: <x.y.z> (the flyctl version; default is latest)")
			}
		}
	}
}

func TestCIRunsOncePerPullRequestCommitAndIsReusable(t *testing.T) {
	wf := workflowNamed(t, "ci.yml")
	got := strings.Join(triggers(wf), ",")
	if got != "pull_request,workflow_call,workflow_dispatch" {
		t.Errorf("ci.yml triggers = %s, want pull_request,workflow_call,workflow_dispatch: "+
			"a push trigger runs a pull request's commits a second time (main is tested by deploy.yml through workflow_call; "+
			"workflow_dispatch lets vendorhash.yml start CI on the commit it pushes)", got)
	}
	if cancel := path(wf.root, "concurrency", "cancel-in-progress"); cancel == nil || !strings.Contains(cancel.Value, "github.event_name == 'pull_request'") {
		t.Errorf("ci.yml: concurrency must cancel only superseded pull request runs (cancel-in-progress: ${{ github.event_name == 'pull_request' }}); a run for main or a dispatch must finish")
	}
	for _, j := range wf.jobs() {
		for i, step := range j.steps() {
			u := get(step, "uses")
			if u == nil {
				continue
			}
			if strings.HasPrefix(u.Value, "mikepenz/action-junit-report@") {
				if v := path(step, "with", "annotate_only"); v == nil || v.Value != "true" {
					t.Errorf("ci.yml step %s: action-junit-report needs annotate_only: true (else it needs checks: write)", stepLabel(step, i))
				}
			}
			if strings.HasPrefix(u.Value, "dorny/test-reporter@") {
				if v := path(step, "with", "use-actions-summary"); v != nil && v.Value != "true" {
					t.Errorf("ci.yml step %s: test-reporter without use-actions-summary creates a check run (checks: write)", stepLabel(step, i))
				}
			}
		}
	}
}

func TestNamesTimeoutsAndConcurrencyEverywhere(t *testing.T) {
	for _, wf := range loadWorkflows(t) {
		if n := get(wf.root, "name"); n == nil || n.Value == "" {
			t.Errorf("%s: workflow has no name:", wf.file)
		}
		wfConcurrency := get(wf.root, "concurrency")
		if wfConcurrency != nil && get(wfConcurrency, "cancel-in-progress") == nil {
			t.Errorf("%s: workflow concurrency must say cancel-in-progress", wf.file)
		}
		for _, j := range wf.jobs() {
			if n := get(j.node, "name"); n == nil || n.Value == "" {
				t.Errorf("%s: job %s has no name:", wf.file, j.id)
			}
			if j.reusableCall() {
				continue
			}
			if get(j.node, "timeout-minutes") == nil {
				t.Errorf("%s: job %s has no timeout-minutes", wf.file, j.id)
			}
			if wfConcurrency == nil && get(j.node, "concurrency") == nil {
				t.Errorf("%s: job %s has no concurrency group and the workflow has none", wf.file, j.id)
			}
			for i, step := range j.steps() {
				if n := get(step, "name"); n == nil || n.Value == "" {
					t.Errorf("%s: job %s step %d has no name:", wf.file, j.id, i)
				}
			}
		}
	}
}

func TestDependabotCoversActionsBothGoModulesTheFlakeAndTheImageWithCooldown(t *testing.T) {
	root := loadYAML(t, testkit.RepoRoot(t)+"/.github/dependabot.yml")
	if v := get(root, "version"); v == nil || v.Value != "2" {
		t.Errorf("dependabot.yml: version must be 2")
	}
	dirs := map[string][]string{}
	for _, u := range get(root, "updates").Content {
		eco := get(u, "package-ecosystem").Value
		if d := get(u, "directory"); d != nil {
			dirs[eco] = append(dirs[eco], d.Value)
		}
		if d := get(u, "directories"); d != nil {
			for _, c := range d.Content {
				dirs[eco] = append(dirs[eco], c.Value)
			}
		}
		days := path(u, "cooldown", "default-days")
		if days == nil {
			t.Errorf("dependabot.yml: %s has no cooldown: default-days", eco)
			continue
		}
		var n int
		if err := days.Decode(&n); err != nil || n < 7 {
			t.Errorf("dependabot.yml: %s cooldown default-days = %q, want >= 7", eco, days.Value)
		}
	}
	for eco, want := range map[string][]string{"github-actions": {"/"}, "gomod": {"/", "/scripts"}, "nix": {"/"}, "docker": {"/"}} {
		for _, w := range want {
			if !contains(dirs[eco], w) {
				t.Errorf("dependabot.yml: %s does not cover %s (has %v)", eco, w, dirs[eco])
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func stepLabel(step *yaml.Node, i int) string {
	if n := get(step, "name"); n != nil {
		return "«" + n.Value + "»"
	}
	return "#" + strconv.Itoa(i)
}
