package image

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func TestDockerfileFollowsTheImageRules(t *testing.T) {
	img := mustImage(t)
	t.Logf("final stage: USER %d:%d, EXPOSE %s, CMD %q", img.UID, img.GID, img.ExposePort, img.Cmd)
}

// mutable is the Dockerfile as lines, with its instructions located by the
// parser, so a test can break one instruction whatever the file says.
type mutable struct {
	lines []string
	nodes []*parser.Node
}

func readMutable(t *testing.T) mutable {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return mutable{lines: strings.Split(string(b), "\n"), nodes: mustDockerfile(t).ast.Children}
}

// instruction returns the n-th (0-based; -1 for the last) instruction named
// name (lower case), in stage (0 builder, ...; -1 any; finalStage the last).
func (m mutable) instruction(t *testing.T, stage int, name string, n int) *parser.Node {
	t.Helper()
	var found []*parser.Node
	if stage == finalStage {
		stage = len(mustDockerfile(t).stages) - 1
	}
	current := -1
	for _, node := range m.nodes {
		v := strings.ToLower(node.Value)
		if v == "from" {
			current++
		}
		if v == name && (stage < 0 || stage == current) {
			found = append(found, node)
		}
	}
	if n < 0 {
		n += len(found)
	}
	if n < 0 || n >= len(found) {
		t.Fatalf("the Dockerfile has no %s instruction #%d in stage %d", name, n, stage)
	}
	return found[n]
}

// finalStage stands for the last stage, the production image.
const finalStage = -2

// replace returns the file with node's lines replaced by text ("" deletes).
func (m mutable) replace(node *parser.Node, text string) string {
	out := append([]string{}, m.lines[:node.StartLine-1]...)
	if text != "" {
		out = append(out, text)
	}
	return strings.Join(append(out, m.lines[node.EndLine:]...), "\n")
}

// edit returns the file with re replaced by repl in every RUN of the builder.
func (m mutable) editRuns(t *testing.T, re, repl string) string {
	t.Helper()
	pattern := regexp.MustCompile(re)
	lines := append([]string{}, m.lines...)
	changed := false
	for _, node := range m.nodes {
		if strings.ToLower(node.Value) != "run" {
			continue
		}
		for i := node.StartLine - 1; i < node.EndLine; i++ {
			if edited := pattern.ReplaceAllString(lines[i], repl); edited != lines[i] {
				lines[i], changed = edited, true
			}
		}
	}
	if !changed {
		t.Fatalf("no RUN matches %s: the rule this case breaks has no instance to break", re)
	}
	return strings.Join(lines, "\n")
}

// The rules must catch real mistakes: each case breaks the current
// Dockerfile in one way, found through the parser, and names a word the
// complaint must contain.
func TestDockerfileRulesRejectBrokenCopies(t *testing.T) {
	m := readMutable(t)
	d := mustDockerfile(t)
	repo, _ := imageRef(d.stages[0].BaseName)
	name := d.stages[0].Name
	img := mustImage(t)
	from := m.instruction(t, 0, "from", 0)
	user := m.instruction(t, finalStage, "user", 0)
	finalCopy := m.instruction(t, finalStage, "copy", 0)
	debugUser := m.instruction(t, stageNamed(t, d, debugStage), "user", 0)
	toolchainCopy := m.instruction(t, 0, "copy", 0)
	toolchainRun := m.instruction(t, 0, "run", 0)
	failsClosed, _, found := strings.Cut(toolchainRun.Original, "||")
	if !found {
		t.Fatalf("the first RUN has no || to cut: %s", toolchainRun.Original)
	}
	cases := []struct {
		name, broken, complaint string
	}{
		{"latest tag", m.replace(from, "FROM "+repo+":latest AS "+name), "exact release tag"},
		{"untagged", m.replace(from, "FROM "+repo+" AS "+name), "exact release tag"},
		{"other image", m.replace(from, "FROM debian:12.7 AS "+name), builderImage},
		{"lower-case as", m.replace(from, "FROM "+d.stages[0].BaseName+" as "+name), "casing"},
		{"no flakes feature", m.editRuns(t, `--extra-experimental-features ("[^"]*"|\S+)`, "--extra-experimental-features nix-command"), "flakes"},
		{"seccomp filter on", m.editRuns(t, `filter-syscalls false`, "filter-syscalls true"), "filter-syscalls"},
		{"cache over the store", m.editRuns(t, `type=cache,target=[^,\s]+`, "type=cache,target=/nix/store"), "/nix/store"},
		{"mount typo", m.editRuns(t, `type=cache,`, "type=cahce,"), "RUN flags"},
		{"closure not copied", m.editRuns(t, `\$\(nix-store -qR [^)]*\)`, "result"), "closure"},
		{"toolchain layer sees the sources", m.replace(toolchainCopy, "COPY . ."), "toolchain layer"},
		{"toolchain layer sees go.sum", m.replace(toolchainCopy, withCopySource(toolchainCopy, "go.sum")), "want exactly"},
		{"toolchain layer sees go.mod.sri", m.replace(toolchainCopy, withCopySource(toolchainCopy, "go.mod.sri")), "want exactly"},
		{"toolchain layer without flake.lock", m.replace(toolchainCopy, strings.Replace(toolchainCopy.Original, " flake.lock", "", 1)), "want exactly"},
		{"toolchain layer builds the package", m.replace(toolchainRun, strings.Replace(toolchainRun.Original, ".#default.go", ".#default", 1)), "builds the package"},
		{"toolchain layer fails closed", m.replace(toolchainRun, failsClosed), "fail open"},
		{"toolchain layer fails silently", m.replace(toolchainRun, failsClosed+" || true"), "fail open"},
		{"no toolchain layer", m.replace(toolchainRun, ""), "toolchain layer"},
		{"base not scratch", m.replace(m.instruction(t, finalStage, "from", 0), "FROM debian:12.7"), "scratch"},
		{"final stage ships the debug root", m.replace(finalCopy, "COPY --from="+debugBuilder(t, d)+" /image/ /"), "never the debug root"},
		{"root's tree not copied", m.editRuns(t, `cp -a result/root/\. `, "cp -a result/. "), "tree"},
		{"root's directories not made", m.editRuns(t, `install -d`, "mkdir -p"), "manifest"},
		{"no HOME", m.replace(m.instruction(t, finalStage, "env", 0), ""), "HOME"},
		{"debug target runs otherwise", m.replace(debugUser, "USER 1000:1000"), "run like the final stage"},
		{"a third image", m.replace(finalCopy, finalCopy.Original+"\nFROM scratch AS other\nCOPY --from=builder /image/ /"), "debug"},
		{"root user", m.replace(user, "USER 0:0"), "root"},
		{"named user", m.replace(user, "USER nobody"), "numeric"},
		{"shell-form CMD", m.replace(m.instruction(t, finalStage, "cmd", -1), "CMD "+strings.Join(img.Cmd, " ")), "exec form"},
		{"extra instruction", m.replace(user, user.Original+"\nENV GIN_MODE=debug"), "ENV"},
		{"no EXPOSE", m.replace(m.instruction(t, finalStage, "expose", 0), ""), "EXPOSE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := parseDockerfile(strings.NewReader(c.broken), "Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			_, problems := checkDockerfile(d)
			for _, p := range problems {
				if strings.Contains(p, c.complaint) {
					return
				}
			}
			t.Errorf("want a complaint containing %q, got %q in:\n%s", c.complaint, problems, c.broken)
		})
	}
}

// withCopySource returns copyNode with src added before its destination.
func withCopySource(copyNode *parser.Node, src string) string {
	words := strings.Fields(copyNode.Original)
	last := len(words) - 1
	return strings.Join(append(words[:last:last], src, words[last]), " ")
}

// stageNamed is the index of the stage named name.
func stageNamed(t *testing.T, d *dockerfile, name string) int {
	t.Helper()
	for i, s := range d.stages {
		if s.Name == name {
			return i
		}
	}
	t.Fatalf("the Dockerfile has no stage named %q", name)
	return -1
}

// debugBuilder is the stage the debug target copies its root from.
func debugBuilder(t *testing.T, d *dockerfile) string {
	t.Helper()
	for _, c := range d.stages[stageNamed(t, d, debugStage)].Commands {
		if c, ok := c.(*instructions.CopyCommand); ok {
			return c.From
		}
	}
	t.Fatal("the debug stage has no COPY")
	return ""
}
