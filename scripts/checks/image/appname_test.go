package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// appReference matches the places where a file would name the Fly app
// itself: flyctl's --app/-a flag, FLY_APP, the app's hostname and its
// registry repository. The same word elsewhere (a binary, a module path that
// happens to share the name) is not a reference to the app.
func appReference(app string) *regexp.Regexp {
	name := regexp.QuoteMeta(app)
	end := `(?:[^a-z0-9-]|$)` // app names are lowercase letters, digits and dashes
	return regexp.MustCompile(`(?:--app[= ]|\s-a |FLY_APP[=:] *)["']?` + name + end +
		`|(?:^|[^a-z0-9-.])` + name + `\.fly\.dev` + `|registry\.fly\.io/` + name + end)
}

func TestAppReference(t *testing.T) {
	re := appReference("acme")
	for text, want := range map[string]bool{
		"flyctl deploy --app acme": true, "flyctl status -a 'acme'": true, "FLY_APP: acme": true,
		"https://acme.fly.dev/ping": true, "registry.fly.io/acme:git-1": true,
		`CMD ["/bin/acme"]`: false, "module example.com/acme": false, "--app acme-2x": false, "acmecorp.fly.dev": false,
	} {
		if got := re.MatchString(text); got != want {
			t.Errorf("%q names the app acme: got %v, want %v", text, got, want)
		}
	}
}

// fly.toml's app is the one place the app's name lives: scripts and
// workflows read it from there (flyctl does by default). Documentation and
// test fixtures may show a name.
func TestAppNameLivesOnlyInFlyToml(t *testing.T) {
	root := testkit.RepoRoot(t)
	app := mustFlyConfig(t).App
	if app == "" {
		t.Fatal("fly.toml has no app name")
	}
	reference := appReference(app)
	git := testkit.RequireTool(t, "git", "apt-get install git")
	out, err := exec.Command(git, "-C", root, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name == "fly.toml" || strings.HasSuffix(name, ".md") || strings.HasSuffix(name, "_test.go") || strings.Contains(name, "testdata/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // listed but deleted in the work tree
		}
		if loc := reference.FindIndex(b); loc != nil {
			t.Errorf("%s names the Fly app %q (%q); read it from fly.toml (flyctl does by default) so renaming the app is a one-line change", name, app, b[loc[0]:loc[1]])
		}
	}
}
