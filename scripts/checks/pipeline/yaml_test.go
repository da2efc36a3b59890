package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// workflow is one parsed workflow file, kept as YAML nodes so that line
// comments (the `# tag` after a pinned SHA) stay visible.
type workflow struct {
	file string // e.g. ci.yml
	root *yaml.Node
}

// parseYAML parses the file at path as one YAML mapping.
func parseYAML(path string) (*yaml.Node, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a YAML mapping", path)
	}
	return doc.Content[0], nil
}

// loadYAML parses a file the policy tests read. One that does not parse is
// reported once, by TestGitHubFilesParse; the tests reading it skip.
func loadYAML(t *testing.T, path string) *yaml.Node {
	t.Helper()
	n, err := parseYAML(path)
	if err != nil {
		t.Skipf("%v: TestGitHubFilesParse reports it; fix the file first", err)
	}
	return n
}

func TestGitHubFilesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testkit.RepoRoot(t), ".github", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	workflows, err := filepath.Glob(filepath.Join(testkit.RepoRoot(t), ".github", "workflows", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, workflows...) {
		if _, err := parseYAML(f); err != nil {
			t.Errorf("%v: GitHub cannot read it; fix the YAML (actionlint %s points at the line)", err, f)
		}
	}
}

func loadWorkflows(t *testing.T) []workflow {
	t.Helper()
	dir := filepath.Join(testkit.RepoRoot(t), ".github", "workflows")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	var wfs []workflow
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yml") || strings.HasSuffix(e.Name(), ".yaml") {
			wfs = append(wfs, workflow{file: e.Name(), root: loadYAML(t, filepath.Join(dir, e.Name()))})
		}
	}
	if len(wfs) == 0 {
		t.Fatalf("no workflows in %s", dir)
	}
	return wfs
}

func workflowNamed(t *testing.T, file string) workflow {
	t.Helper()
	for _, wf := range loadWorkflows(t) {
		if wf.file == file {
			return wf
		}
	}
	t.Fatalf(".github/workflows/%s is missing", file)
	return workflow{}
}

// get returns the value of key in a mapping node, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// path follows keys through nested mappings.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
	}
	return n
}

func keys(n *yaml.Node) []string {
	var out []string
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			out = append(out, n.Content[i].Value)
		}
	}
	return out
}

type job struct {
	id   string
	node *yaml.Node
}

func (wf workflow) jobs() []job {
	jobsNode := get(wf.root, "jobs")
	var out []job
	for _, id := range keys(jobsNode) {
		out = append(out, job{id: id, node: get(jobsNode, id)})
	}
	return out
}

func (wf workflow) job(t *testing.T, id string) *yaml.Node {
	t.Helper()
	n := path(wf.root, "jobs", id)
	if n == nil {
		t.Fatalf("%s has no job %q", wf.file, id)
	}
	return n
}

// reusableCall tells a job that calls a workflow (jobs.<id>.uses) from one
// with steps.
func (j job) reusableCall() bool { return get(j.node, "uses") != nil }

func (j job) steps() []*yaml.Node {
	s := get(j.node, "steps")
	if s == nil {
		return nil
	}
	return s.Content
}

// scalars calls fn for every scalar below n with its key path.
func scalars(n *yaml.Node, at string, fn func(at string, v *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			scalars(n.Content[i+1], at+"."+n.Content[i].Value, fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			scalars(c, at+"["+strconv.Itoa(i)+"]", fn)
		}
	case yaml.ScalarNode:
		fn(at, n)
	}
}
