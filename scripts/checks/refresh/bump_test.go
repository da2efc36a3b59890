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
// commit message for it. It tries the module cache first (the scripts module
// and earlier builds put many versions there), then, on a machine whose
// cache has none that bump cleanly, the Go module proxy.
func dependabotBump(t *testing.T, dir string) string {
	t.Helper()
	cache := run(t, dir, "go", "env", "GOMODCACHE")
	requires := parseGoMod(t, filepath.Join(dir, "go.mod")).Require
	var tried []string
	bump := func(r *modfile.Require, newer string, offline bool) (string, bool) {
		tried = append(tried, r.Mod.Path+"@"+newer)
		if goCommand(dir, offline, "get", r.Mod.Path+"@"+newer) == nil && goCommand(dir, offline, "mod", "tidy") == nil {
			return "build(deps): bump " + r.Mod.Path + " from " + r.Mod.Version + " to " + newer, true
		}
		git(t, dir, "checkout", "--", "go.mod", "go.sum")
		return "", false
	}
	for _, r := range requires {
		if newer := newestCached(cache, r.Mod); newer != "" {
			if msg, ok := bump(r, newer, true); ok {
				return msg
			}
		}
		if len(tried) == 5 {
			break
		}
	}
	for _, r := range requires {
		if newer := proxyUpdate(dir, r.Mod.Path); newer != "" {
			if msg, ok := bump(r, newer, false); ok {
				return msg
			}
		}
		if len(tried) == 10 {
			break
		}
	}
	t.Fatalf("no requirement of %s/go.mod could be bumped from the module cache or the Go module proxy (tried %v); "+
		"check that the proxy is reachable (go env GOPROXY) and run the test again", dir, tried)
	return ""
}

// proxyUpdate is the newest release of module path above the required one
// that the Go module proxy serves, or "".
func proxyUpdate(dir, path string) string {
	cmd := exec.Command("go", "list", "-m", "-u", "-f", "{{with .Update}}{{.Version}}{{end}}", path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
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

// goCommand runs a go command in dir; offline, with the module cache alone
// (the checksums of what it adds come from the cache, verified when
// downloaded), otherwise through the Go module proxy and checksum database.
func goCommand(dir string, offline bool, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
	if offline {
		cmd.Env = append(cmd.Env, "GOPROXY=off", "GOSUMDB=off")
	}
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
