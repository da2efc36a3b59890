package image

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/repo"
	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flakeship-image-check-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository root, or the test fails saying why.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func repoFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), name)
}

// serviceBinary builds the service once, exactly as the flake does.
func serviceBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	binOnce.Do(func() {
		binPath, binError = servicebuild.Build(root, binDir, "flakeship", "image-check")
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

func mustDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	d, err := readDockerfile(repoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mustImage is the final stage's runtime contract; the test fails if the
// Dockerfile breaks any rule.
func mustImage(t *testing.T) runtimeImage {
	t.Helper()
	img, problems := checkDockerfile(mustDockerfile(t))
	for _, p := range problems {
		t.Errorf("Dockerfile: %s", p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	return img
}
