package image

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

func TestDockerContextHoldsExactlyWhatNixBuildReads(t *testing.T) {
	root := testkit.RepoRoot(t)
	ignore, err := os.ReadFile(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	need, err := nixBuildInputs(root)
	flake.Require(t, err)
	context, err := dockerContext(root, bytes.NewReader(ignore))
	if err != nil {
		t.Fatal(err)
	}
	missing, extra := compareContext(context, need)
	for _, f := range missing {
		t.Errorf("%s is read by nix build but .dockerignore leaves it out of the Docker context; re-include it with a ! line", f)
	}
	for _, f := range extra {
		t.Errorf("%s (%d bytes) is in the Docker context but nix build does not read it; exclude it in .dockerignore", f, context[f])
	}
	var total int64
	for _, size := range context {
		total += size
	}
	t.Logf("Docker context: %d files, %d bytes", len(context), total)
}

func TestDockerContextCheckFindsMissingAndExtraFiles(t *testing.T) {
	root := testkit.RepoRoot(t)
	need, err := nixBuildInputs(root)
	flake.Require(t, err)
	cases := []struct {
		name, dockerignore string
		wantMissing        string // a file that must be reported missing
		wantExtra          string // a file that must be reported extra
	}{
		{"lock left out", "*\n!flake.nix\n!go.mod.sri\n!go.mod\n!go.sum\n!**/*.go\nscripts\n", "flake.lock", ""},
		{"vendorHash left out", "*\n!flake.nix\n!flake.lock\n!go.mod\n!go.sum\n!**/*.go\nscripts\n", "go.mod.sri", ""},
		{"no .dockerignore", "", "", "Dockerfile"},
		{"scripts let in", "*\n!flake.nix\n!flake.lock\n!go.mod.sri\n!go.mod\n!go.sum\n!**/*.go\n", "", "scripts/internal/repo/repo.go"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			context, err := dockerContext(root, strings.NewReader(c.dockerignore))
			if err != nil {
				t.Fatal(err)
			}
			missing, extra := compareContext(context, need)
			if c.wantMissing != "" && !slices.Contains(missing, c.wantMissing) {
				t.Errorf("want %s reported missing, missing = %q", c.wantMissing, missing)
			}
			if c.wantExtra != "" && !slices.Contains(extra, c.wantExtra) {
				t.Errorf("want %s reported extra, extra = %q", c.wantExtra, extra)
			}
		})
	}
}

// compareContext returns the needed files the context lacks and the context
// files nothing needs, both sorted.
func compareContext(context map[string]int64, need map[string]bool) (missing, extra []string) {
	for f := range need {
		if _, ok := context[f]; !ok {
			missing = append(missing, f)
		}
	}
	for f := range context {
		if !need[f] {
			extra = append(extra, f)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}
