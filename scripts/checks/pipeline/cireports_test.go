package pipeline

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ciStep is a step of ci.yml's checks job with its position.
type ciStep struct {
	index int
	node  *yaml.Node
}

func (s ciStep) str(key string) string {
	if v := get(s.node, key); v != nil {
		return v.Value
	}
	return ""
}

func (s ciStep) with(key string) string {
	if v := path(s.node, "with", key); v != nil {
		return v.Value
	}
	return ""
}

// checksStep finds the one step of ci.yml's checks job that match accepts.
func checksStep(t *testing.T, what string, match func(ciStep) bool) ciStep {
	t.Helper()
	steps := get(workflowNamed(t, "ci.yml").job(t, "checks"), "steps")
	var found []ciStep
	for i, n := range steps.Content {
		if s := (ciStep{i, n}); match(s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ci.yml job checks: want exactly one step that %s, found %d", what, len(found))
	}
	return found[0]
}

func runs(fragment string) func(ciStep) bool {
	return func(s ciStep) bool { return strings.Contains(s.str("run"), fragment) }
}

func usesAction(action string, pathFragment string) func(ciStep) bool {
	return func(s ciStep) bool {
		return strings.HasPrefix(s.str("uses"), action+"@") &&
			(strings.Contains(s.with("path"), pathFragment) || strings.Contains(s.with("report_paths"), pathFragment))
	}
}

func TestUserNamespacesAreAllowedBeforeAnythingCanFail(t *testing.T) {
	sysctl := checksStep(t, "is named «Allow unprivileged user namespaces»", func(s ciStep) bool {
		return s.str("name") == "Allow unprivileged user namespaces"
	})
	if !strings.Contains(sysctl.str("run"), "kernel.apparmor_restrict_unprivileged_userns=0") {
		t.Errorf("ci.yml: «Allow unprivileged user namespaces» must set kernel.apparmor_restrict_unprivileged_userns=0, runs %q", sysctl.str("run"))
	}
	flake := checksStep(t, "runs nix flake check", runs("nix flake check"))
	test := checksStep(t, "runs scripts/test", runs("scripts/test"))
	if sysctl.index > flake.index || sysctl.index > test.index {
		t.Errorf("ci.yml: the sysctl step (#%d) must come before nix flake check (#%d): a failing flake check would skip it and fail scripts/test's image test too",
			sysctl.index, flake.index)
	}
	if cond := sysctl.str("if"); cond != "" {
		t.Errorf("ci.yml: the sysctl step needs no if: (it runs before anything can fail), has %q", cond)
	}
}

func TestFlakeTestReportIsOnlyTakenFromAPassingFlakeCheck(t *testing.T) {
	flake := checksStep(t, "runs nix flake check", runs("nix flake check"))
	id := flake.str("id")
	if id == "" {
		t.Fatalf("ci.yml: the nix flake check step needs an id: so the report steps can test its outcome")
	}
	report := checksStep(t, "builds the flake's tests check", runs(".#checks.x86_64-linux.tests"))
	wantCond := "steps." + id + ".outcome == 'success'"
	if !strings.Contains(report.str("if"), wantCond) {
		t.Errorf("ci.yml: «%s» has if %q; it must contain %q: checks.tests has no report when a test fails, and building it again only reruns the failing tests",
			report.str("name"), report.str("if"), wantCond)
	}
	if report.index < flake.index {
		t.Errorf("ci.yml: the flake report step comes before nix flake check")
	}
	summary := checksStep(t, "summarises reports/nix/test.json", usesAction("dorny/test-reporter", "reports/nix/test.json"))
	if report.str("id") == "" || !strings.Contains(summary.str("if"), "steps."+report.str("id")+".outcome == 'success'") {
		t.Errorf("ci.yml: «%s» must run only when the report step (id %q) succeeded, has if %q", summary.str("name"), report.str("id"), summary.str("if"))
	}
	if summary.with("path") != "reports/nix/test.json" || summary.with("reporter") != "golang-json" {
		t.Errorf("ci.yml: «%s» must read only reports/nix/test.json with reporter golang-json, has path %q reporter %q",
			summary.str("name"), summary.with("path"), summary.with("reporter"))
	}
}

// TestCIRunsEachCheckOnce: nix flake check runs the service's tests, vet
// and golangci-lint, gofmt, shellcheck and actionlint; scripts/test, after
// it, runs only what no flake check does.
func TestCIRunsEachCheckOnce(t *testing.T) {
	flake := checksStep(t, "runs nix flake check", runs("nix flake check"))
	test := checksStep(t, "runs scripts/test", runs("scripts/test"))
	if !strings.Contains(test.str("run"), "--skip-flake-checks") {
		t.Errorf("ci.yml: «%s» runs %q: add --skip-flake-checks, or the service's tests, vet and golangci-lint run a second time", test.str("name"), test.str("run"))
	}
	if test.index < flake.index {
		t.Errorf("ci.yml: scripts/test --skip-flake-checks (#%d) comes before nix flake check (#%d), whose checks it relies on", test.index, flake.index)
	}
}

func TestScriptsTestFailuresAreSummarisedAndAnnotated(t *testing.T) {
	test := checksStep(t, "runs scripts/test", runs("scripts/test"))
	if !strings.Contains(test.str("run"), "--report reports") {
		t.Errorf("ci.yml: scripts/test must write its reports to reports/ (--report reports), runs %q", test.str("run"))
	}
	// scripts/test --report writes scripts.*, and service.* when it runs the
	// service's tests (not with --skip-flake-checks).
	written := []string{"scripts"}
	unwritten := []string{"service"}
	if !strings.Contains(test.str("run"), "--skip-flake-checks") {
		written, unwritten = append(written, "service"), nil
	}
	summary := checksStep(t, "summarises reports/scripts.json", usesAction("dorny/test-reporter", "reports/scripts.json"))
	annotate := checksStep(t, "annotates reports/scripts.junit.xml", usesAction("mikepenz/action-junit-report", "reports/scripts.junit.xml"))
	for _, c := range []struct {
		step  ciStep
		paths string
		ext   string
	}{
		{test, "", ""},
		{summary, summary.with("path") + " " + summary.str("if"), ".json"},
		{annotate, annotate.with("report_paths") + " " + annotate.str("if"), ".junit.xml"},
	} {
		if !strings.Contains(c.step.str("if"), "!cancelled()") {
			t.Errorf("ci.yml: «%s» must run when earlier steps failed (if: !cancelled() ...), has if %q", c.step.str("name"), c.step.str("if"))
		}
		if c.step.index < test.index {
			t.Errorf("ci.yml: «%s» comes before scripts/test, whose reports it reads", c.step.str("name"))
		}
		if c.ext == "" {
			continue
		}
		for _, name := range written {
			if w := "reports/" + name + c.ext; !strings.Contains(c.paths, w) {
				t.Errorf("ci.yml: «%s» does not read %s, which scripts/test writes (reads %q)", c.step.str("name"), w, c.paths)
			}
		}
		for _, name := range unwritten {
			if w := "reports/" + name + c.ext; strings.Contains(c.paths, w) {
				t.Errorf("ci.yml: «%s» reads %s, which scripts/test --skip-flake-checks never writes (the flake's report is reports/nix/)", c.step.str("name"), w)
			}
		}
	}
	flakeSummary := checksStep(t, "summarises reports/nix/test.json", usesAction("dorny/test-reporter", "reports/nix/test.json"))
	if summary.with("name") == "" || summary.with("name") == flakeSummary.with("name") {
		t.Errorf("ci.yml: the two test summaries need distinct names, have %q and %q", summary.with("name"), flakeSummary.with("name"))
	}
	if summary.with("reporter") != "golang-json" {
		t.Errorf("ci.yml: «%s» must use reporter golang-json", summary.str("name"))
	}
}
