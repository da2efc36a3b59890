package refresh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

func parseGoMod(t *testing.T, path string) *modfile.File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dependabotBump bumps one requirement of the module in dir to a newer
// version, as Dependabot does (go get, then go mod tidy), and returns a
// commit message for it. It stays offline: it takes a version that is in
// the module cache (the scripts module and earlier builds put many there)
// and tries requirements in go.mod order until one bumps with the cache
// alone.
func dependabotBump(t *testing.T, dir string) string {
	t.Helper()
	cache := run(t, dir, "go", "env", "GOMODCACHE")
	var tried []string
	for _, r := range parseGoMod(t, filepath.Join(dir, "go.mod")).Require {
		newer := newestCached(cache, r.Mod)
		if newer == "" {
			continue
		}
		tried = append(tried, r.Mod.Path+"@"+newer)
		if goOffline(dir, "get", r.Mod.Path+"@"+newer) == nil && goOffline(dir, "mod", "tidy") == nil {
			return "build(deps): bump " + r.Mod.Path + " from " + r.Mod.Version + " to " + newer
		}
		git(t, dir, "checkout", "--", "go.mod", "go.sum")
		if len(tried) == 5 {
			break
		}
	}
	t.Fatalf("no requirement of %s/go.mod could be bumped from the module cache alone (tried %v); "+
		"fill the cache (cd scripts && go mod download) and run the test again", dir, tried)
	return ""
}

// newestCached is the newest version of m's module above m.Version whose
// zip is in the module cache, or "".
func newestCached(cache string, m module.Version) string {
	escaped, err := module.EscapePath(m.Path)
	if err != nil {
		return ""
	}
	zips, _ := filepath.Glob(filepath.Join(cache, "cache", "download", escaped, "@v", "*.zip"))
	newest := m.Version
	for _, zip := range zips {
		v, err := module.UnescapeVersion(strings.TrimSuffix(filepath.Base(zip), ".zip"))
		if err == nil && semver.Prerelease(v) == "" && semver.Build(v) == "" && semver.Major(v) == semver.Major(m.Version) && semver.Compare(v, newest) > 0 {
			newest = v
		}
	}
	if newest == m.Version {
		return ""
	}
	return newest
}

// goOffline runs a go command in dir with the module cache alone; the
// checksums of what it adds come from the cache (verified when downloaded).
func goOffline(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	return cmd.Run()
}

// unreachableVersion is a version of m's major that no proxy serves.
func unreachableVersion(m module.Version) string {
	return semver.Major(m.Version) + ".999.0"
}

// goModEdit runs go mod edit in dir.
func goModEdit(t *testing.T, dir string, args ...string) {
	t.Helper()
	run(t, dir, "go", append([]string{"mod", "edit"}, args...)...)
}
