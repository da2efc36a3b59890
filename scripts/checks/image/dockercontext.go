package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"scripts/internal/servicebuild"
)

// dockerContext lists the files (slash-separated, relative to root) that a
// build of root sends to the builder, applying .dockerignore the way
// BuildKit (Depot, flyctl's default remote builder) does: a file is left out
// when it or a parent directory matches, the last matching pattern winning
// (so "!" re-includes). flyctl's own tar archive, for Docker daemons without
// BuildKit, sends the same files plus Dockerfile and .dockerignore
// (superfly/flyctl v0.4.87 internal/build/imgsrc/archive.go), so a context
// right for BuildKit is right for it too.
func dockerContext(root string, ignore io.Reader) (map[string]int64, error) {
	patterns, err := ignorefile.ReadAll(ignore)
	if err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	files := map[string]int64{}
	err = fs.WalkDir(os.DirFS(root), ".", func(rel string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil || excluded {
			return err
		}
		info, err := e.Info()
		if err == nil {
			files[rel] = info.Size()
		}
		return err
	})
	return files, err
}

// nixBuildInputs lists the files `nix build` in the image reads: the flake,
// its lock, the vendorHash file go.mod.sri (read by lib.fileContents), the
// root module's go.mod and go.sum, and every file of every
// package of the root module that the Go build or its tests (buildGoModule
// runs them) read, testdata included.
func nixBuildInputs(root string) (map[string]bool, error) {
	need := map[string]bool{"flake.nix": true, "flake.lock": true, "go.mod.sri": true, "go.mod": true, "go.sum": true}
	recipe, err := servicebuild.Load(root, "")
	if err != nil {
		return nil, err
	}
	// One path a line: the package's testdata, then every file it lists.
	format := `{{.Dir}}/testdata`
	for _, list := range []string{"GoFiles", "CgoFiles", "IgnoredGoFiles",
		"TestGoFiles", "XTestGoFiles", "EmbedFiles", "TestEmbedFiles", "XTestEmbedFiles"} {
		format += `{{range .` + list + `}}{{"\n"}}{{$.Dir}}/{{.}}{{end}}`
	}
	cmd := exec.Command("go", "list", "-tags", strings.Join(recipe.Tags, ","), "-f", format, "./...")
	cmd.Dir = root
	// -mod=readonly: listing must never rewrite the service's go.mod.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		return nil, fmt.Errorf("go list ./... in %s: %w", root, err)
	}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if err := addTree(root, p, need); err != nil {
			return nil, err
		}
	}
	return need, nil
}

// addTree adds the file at p, or every file under the directory p, to set
// (relative to root); nothing when p does not exist.
func addTree(root, p string, set map[string]bool) error {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return err
	}
	err = fs.WalkDir(os.DirFS(root), filepath.ToSlash(rel), func(f string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			set[f] = true
		}
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
