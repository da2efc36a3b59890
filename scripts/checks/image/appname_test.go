package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// fly.toml's app is the one place the app's name lives: scripts and
// workflows read it from there (flyctl does by default).
func TestAppNameLivesOnlyInFlyToml(t *testing.T) {
	root := testkit.RepoRoot(t)
	app := mustFlyConfig(t).App
	git := testkit.RequireTool(t, "git", "apt-get install git")
	out, err := exec.Command(git, "-C", root, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name == "fly.toml" || strings.HasSuffix(name, ".md") {
			continue // documentation may show the example name
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // listed but deleted in the work tree
		}
		if strings.Contains(string(b), app) {
			t.Errorf("%s mentions the app name %q; read it from fly.toml (flyctl does by default) so renaming the app is a one-line change", name, app)
		}
	}
}
