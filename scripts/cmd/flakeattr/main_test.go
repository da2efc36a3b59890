package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"ldflags"}, {"tags", "extra"}} {
		if err := run(args, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "usage: flakeattr tags") {
			t.Errorf("run(%q) = %v, want the usage error", args, err)
		}
	}
}

// TestTagsFollowFlakeNix: the tags come from flake.nix as it is, so an edit
// of the package's tags reaches scripts/test with no second copy to update.
func TestTagsFollowFlakeNix(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", "apt-get install nix-bin (or install Nix)")
	flake.Require(t, flake.Parse(testkit.RepoRoot(t)))
	root := copyOfRepository(t)
	flakeNix := filepath.Join(root, "flake.nix")
	b, err := os.ReadFile(flakeNix)
	if err != nil {
		t.Fatal(err)
	}
	tagsAttr := regexp.MustCompile(`(?m)^(\s*)tags = \[[^\]]*\];`)
	if len(tagsAttr.FindAll(b, -1)) != 1 {
		t.Fatalf("flake.nix: want one `tags = [ ... ];` line (the package's build tags) to edit")
	}
	edited := tagsAttr.ReplaceAll(b, []byte(`${1}tags = [ "edited" "twice" ];`))
	if err := os.WriteFile(flakeNix, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCRIPTS_REPO_ROOT", root)
	var out strings.Builder
	if err := run([]string{"tags"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "edited,twice" {
		t.Errorf("flakeattr tags = %q after setting tags = [ \"edited\" \"twice\" ]; want edited,twice", got)
	}
}

// copyOfRepository copies the files git tracks (as the flake sees them) into
// a temporary directory without .git.
func copyOfRepository(t *testing.T) string {
	t.Helper()
	src := testkit.RepoRoot(t)
	out, err := exec.Command("git", "-C", src, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v (the test copies the files git tracks)", src, err)
	}
	dst := t.TempDir()
	for _, rel := range strings.Split(string(out), "\x00") {
		if rel == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			continue // tracked but deleted in the work tree
		}
		info, _ := os.Stat(filepath.Join(src, rel))
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
