package servicebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

// CacheEnv names a directory (scripts/test sets it for one run) where
// Binary keeps each build under a key of its recipe and sources, so the
// test packages and the scenario copies of one run share one build of
// each distinct service.
const CacheEnv = "SCRIPTS_TEST_CACHE"

var built struct {
	mu   sync.Mutex
	bins map[string]string // rev → binary
}

// Binary builds the service once per revision per test binary, as
// flake.nix builds it at that revision, and returns the binary's path; the
// package's TestMain must call testkit.Main, which removes it. It needs
// nix-instantiate to read flake.nix (testkit.RequireTool). With
// SCRIPTS_TEST_CACHE set, a build of the same recipe and sources made by
// another test binary is reused.
func Binary(t testing.TB, rev string) string {
	t.Helper()
	testkit.RequireTool(t, "nix-instantiate", "install Nix (Debian/Ubuntu: apt-get install nix-bin)")
	built.mu.Lock()
	defer built.mu.Unlock()
	if bin, ok := built.bins[rev]; ok {
		return bin
	}
	root := testkit.RepoRoot(t)
	var bin string
	var err error
	if cache := os.Getenv(CacheEnv); cache != "" {
		bin, err = cachedBuild(cache, root, rev, testkit.ScratchDir(t, "service-"+rev))
	} else {
		bin, err = Build(root, testkit.ScratchDir(t, "service-"+rev), rev)
	}
	flake.Require(t, err)
	if built.bins == nil {
		built.bins = map[string]string{}
	}
	built.bins[rev] = bin
	return bin
}

// cachedBuild returns cache/KEY/NAME, building it first when no test
// binary has; KEY is Recipe.key (into uncached when it has none). The build goes to a fresh
// directory renamed into place, so a concurrent reader never sees half a
// binary; of two concurrent builds the first rename wins.
func cachedBuild(cache, root, rev, uncached string) (string, error) {
	p, err := flake.PackageAttrs(root, rev)
	if err != nil {
		return "", fmt.Errorf("reading the service's build from flake.nix: %w", err)
	}
	r, err := recipeOf(root, p)
	if err != nil {
		return "", err
	}
	key, ok := r.key(root, p.Src)
	if !ok {
		return Build(root, uncached, rev)
	}
	final := filepath.Join(cache, key)
	bin := filepath.Join(final, r.Name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", err
	}
	if b, err := r.Command(r.Dir, r.Main, filepath.Join(tmp, r.Name)).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("building the service in %s: %w\n%s", r.Dir, err, b)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp) // another test binary built it first
		if _, statErr := os.Stat(bin); statErr != nil {
			return "", fmt.Errorf("keeping the service build in %s: %w", final, err)
		}
	}
	return bin, nil
}

// key hashes what the build depends on: the recipe, the go command found
// on PATH, and the files of the package's src (flake.nix's fileset: all
// that Nix gives the build to read), so an edit of fly.toml or the
// Dockerfile reuses the build. Not ok when src lists no files it can read.
func (r Recipe) key(root string, src []string) (string, bool) {
	if len(src) == 0 {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %q\n", r.Main, r.Name, r.Flags, r.Env, os.Getenv("PATH"))
	for _, name := range slices.Sorted(slices.Values(src)) {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return "", false
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], true
}
