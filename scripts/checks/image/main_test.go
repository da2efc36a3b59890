package image

import (
	"path/filepath"
	"testing"

	"scripts/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func repoFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(testkit.RepoRoot(t), name)
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
