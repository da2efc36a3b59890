package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFlyctl puts a flyctl on a PATH of its own that records its arguments
// and token in the returned log; `version` exits versionStatus and `config
// validate` prints output and exits validateStatus.
func fakeFlyctl(t *testing.T, versionStatus, validateStatus, output string) (log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "calls")
	script := `#!/bin/sh
printf '%s token=%s\n' "$*" "$FLY_ACCESS_TOKEN" >>'` + log + `'
case "$1" in
version) exit ` + versionStatus + ` ;;
config) echo '` + output + `'; exit ` + validateStatus + ` ;;
esac
exit 64
`
	if err := os.WriteFile(filepath.Join(dir, "flyctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return log
}

// misspeltFlyToml writes the repository's fly.toml with a key of
// [http_service] misspelt and returns its path and the misspelt key.
func misspeltFlyToml(t *testing.T) (path, typo string) {
	t.Helper()
	m := parsedFlyToml(t)
	typo = misspell(t, table(t, m, "http_service"))
	path = filepath.Join(t.TempDir(), "fly.toml")
	if err := os.WriteFile(path, []byte(encodeFlyToml(t, m)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, typo
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// flyctl judges the keys where it runs: the stand-in, which would reject the
// misspelt key, does not run.
func TestFlyctlValidatesWhereItRuns(t *testing.T) {
	path, _ := misspeltFlyToml(t)
	log := fakeFlyctl(t, "0", "0", "Configuration is valid")
	cfg, validator, err := validateFlyToml(path)
	if err != nil {
		t.Fatalf("flyctl accepted %s, but the check failed (the stand-in must not run): %v", path, err)
	}
	if cfg == nil || !strings.Contains(validator, "flyctl config validate --strict") {
		t.Errorf("validator %q, config %v: want flyctl's verdict and fly.toml's values", validator, cfg)
	}
	want := []string{
		"version token=offline-validation-only",
		"config validate --strict --config " + path + " token=offline-validation-only",
	}
	if got := calls(t, log); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("flyctl was called as\n%q\nwant\n%q", got, want)
	}
}

func TestFlyctlFailureIsAFailureNotAFallBack(t *testing.T) {
	path, _ := misspeltFlyToml(t)
	fakeFlyctl(t, "0", "1", "Strict validation found unrecognised sections or keys")
	_, validator, err := validateFlyToml(path)
	if err == nil || !strings.Contains(err.Error(), "Strict validation found unrecognised") || !strings.Contains(err.Error(), "fix what it names") {
		t.Errorf("%s failed, but the check returned %v; want flyctl's output and the fix", validator, err)
	}
}

func TestStandInValidatesWithoutFlyctl(t *testing.T) {
	path, typo := misspeltFlyToml(t)
	t.Setenv("PATH", t.TempDir())
	_, validator, err := validateFlyToml(path)
	if !strings.Contains(validator, "schema mirror") || err == nil || !strings.Contains(err.Error(), typo) {
		t.Errorf("without flyctl: validator %q, error %v; want the stand-in naming %q", validator, err, typo)
	}
}

func TestFlyctlThatDoesNotRunCountsAsAbsent(t *testing.T) {
	path, typo := misspeltFlyToml(t)
	log := fakeFlyctl(t, "1", "0", "")
	_, validator, err := validateFlyToml(path)
	if !strings.Contains(validator, "schema mirror") || err == nil || !strings.Contains(err.Error(), typo) {
		t.Errorf("with a flyctl whose version fails: validator %q, error %v; want the stand-in naming %q", validator, err, typo)
	}
	if got := calls(t, log); len(got) != 1 || !strings.HasPrefix(got[0], "version") {
		t.Errorf("flyctl calls %q: want only `flyctl version`", got)
	}
}
