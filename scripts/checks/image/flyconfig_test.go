package image

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// mustFlyConfig reads fly.toml's values; TestFlyTomlIsValid checks its keys.
func mustFlyConfig(t *testing.T) *flyConfig {
	t.Helper()
	f, err := os.Open(repoFile(t, "fly.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := decodeFlyConfig(f, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestFlyTomlIsValid(t *testing.T) {
	cfg, validator, err := validateFlyToml(repoFile(t, "fly.toml"))
	t.Logf("fly.toml's keys checked by %s", validator)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkFlyConfig(cfg) {
		t.Error("fly.toml: " + p)
	}
}

// requireValidFlyToml skips a test that edits copies of fly.toml when the
// file itself fails the checks: every copy would fail for the same reason,
// and TestFlyTomlIsValid already names it.
func requireValidFlyToml(t *testing.T) {
	t.Helper()
	cfg, _, err := validateFlyToml(repoFile(t, "fly.toml"))
	if err == nil && len(checkFlyConfig(cfg)) == 0 {
		return
	}
	t.Skip("fly.toml itself fails the checks (TestFlyTomlIsValid says why): fix it first; this test checks edited copies of it")
}

// flyTable is fly.toml parsed into plain TOML values, for edited copies.
type flyTable = map[string]any

func parsedFlyToml(t *testing.T) flyTable {
	t.Helper()
	var m flyTable
	if _, err := toml.DecodeFile(repoFile(t, "fly.toml"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeFlyToml(t *testing.T, m flyTable) string {
	t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func table(t *testing.T, m flyTable, name string) flyTable {
	t.Helper()
	sub, ok := m[name].(flyTable)
	if !ok {
		t.Fatalf("fly.toml has no [%s] table", name)
	}
	return sub
}

func firstEntry(t *testing.T, m flyTable, name string) flyTable {
	t.Helper()
	entries, ok := m[name].([]flyTable)
	if !ok || len(entries) == 0 {
		t.Fatalf("fly.toml has no [[%s]] entry", name)
	}
	return entries[0]
}

// misspell renames one key of m to a misspelling of it (two letters
// swapped) and returns the misspelt key.
func misspell(t *testing.T, m flyTable) string {
	t.Helper()
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k, v := range m {
			_, isTable := v.(flyTable)
			_, isTables := v.([]flyTable)
			if !isTable && !isTables && len(k) > 3 && !yield(k) {
				return
			}
		}
	}) {
		typo := key[:1] + key[2:3] + key[1:2] + key[3:]
		if typo == key {
			continue
		}
		m[typo] = m[key]
		delete(m, key)
		return typo
	}
	t.Fatal("no key to misspell")
	return ""
}

// standInComplaints are the stand-in validator's and checkFlyConfig's
// complaints about text as a fly.toml.
func standInComplaints(text string) []string {
	cfg, err := decodeFlyConfig(strings.NewReader(text), true)
	if err != nil {
		return []string{err.Error()}
	}
	return checkFlyConfig(cfg)
}

// Each case breaks the parsed fly.toml in one way; the stand-in validator
// or the project's rules must reject it, naming the given word.
func TestFlyTomlCheckRejectsMistakes(t *testing.T) {
	requireValidFlyToml(t)
	cases := []struct {
		name    string
		breakIt func(t *testing.T, m flyTable) (complaint string)
	}{
		{"typo in a top-level key", func(t *testing.T, m flyTable) string { return misspell(t, m) }},
		{"typo in an [http_service] key", func(t *testing.T, m flyTable) string { return misspell(t, table(t, m, "http_service")) }},
		{"typo in a check key", func(t *testing.T, m flyTable) string {
			return misspell(t, firstEntry(t, table(t, m, "http_service"), "checks"))
		}},
		{"unknown section", func(t *testing.T, m flyTable) string {
			m["biuld"] = table(t, m, "build")
			delete(m, "build")
			return "biuld"
		}},
		{"deprecated section", func(t *testing.T, m flyTable) string {
			m["experimental"] = flyTable{"auto_rollback": true}
			return "experimental"
		}},
		{"boolean auto_stop_machines", func(t *testing.T, m flyTable) string {
			table(t, m, "http_service")["auto_stop_machines"] = true
			return "deprecated boolean"
		}},
		{"bare-number duration", func(t *testing.T, m flyTable) string {
			m["kill_timeout"] = 15
			return "must be a string"
		}},
		{"unknown strategy", func(t *testing.T, m flyTable) string {
			table(t, m, "deploy")["strategy"] = "blue-green"
			return "blue-green"
		}},
		{"check without a timeout", func(t *testing.T, m flyTable) string {
			delete(firstEntry(t, table(t, m, "http_service"), "checks"), "timeout")
			return "set timeout explicitly"
		}},
		{"check timeout longer than its interval", func(t *testing.T, m flyTable) string {
			check := firstEntry(t, table(t, m, "http_service"), "checks")
			check["interval"], check["timeout"] = "5s", "10s"
			return "shorter than interval"
		}},
		{"plain http", func(t *testing.T, m flyTable) string {
			table(t, m, "http_service")["force_https"] = false
			return "force_https"
		}},
		{"unknown vm size", func(t *testing.T, m flyTable) string {
			firstEntry(t, m, "vm")["size"] = "shared-cpu-3x"
			return "shared-cpu-3x"
		}},
		{"too little memory", func(t *testing.T, m flyTable) string {
			vm := firstEntry(t, m, "vm")
			vm["size"], vm["memory"] = "shared-cpu-2x", "256mb"
			return "allows 512 to 4096 MB"
		}},
		{"soft above hard", func(t *testing.T, m flyTable) string {
			c := table(t, table(t, m, "http_service"), "concurrency")
			soft, _ := c["soft_limit"].(int64)
			c["hard_limit"] = soft - 1
			return "soft_limit"
		}},
		{"bluegreen without checks", func(t *testing.T, m flyTable) string {
			table(t, m, "deploy")["strategy"] = "bluegreen"
			delete(table(t, m, "http_service"), "checks")
			return "bluegreen needs"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := parsedFlyToml(t)
			complaint := c.breakIt(t, m)
			text := encodeFlyToml(t, m)
			complaints := standInComplaints(text)
			for _, p := range complaints {
				if strings.Contains(p, complaint) {
					return
				}
			}
			t.Errorf("want a complaint containing %q about\n%s\ngot %q", complaint, text, complaints)
		})
	}
}

// Routine edits of the parsed fly.toml must pass the stand-in and the rules.
func TestFlyTomlCheckAcceptsRoutineEdits(t *testing.T) {
	requireValidFlyToml(t)
	cases := map[string]func(t *testing.T, m flyTable){
		"another app and region": func(t *testing.T, m flyTable) { m["app"], m["primary_region"] = "acme-api-2", "fra" },
		"a bigger shared vm": func(t *testing.T, m flyTable) {
			vm := firstEntry(t, m, "vm")
			vm["size"], vm["memory"] = "shared-cpu-2x", "1gb"
		},
		"a performance vm": func(t *testing.T, m flyTable) {
			vm := firstEntry(t, m, "vm")
			vm["size"], vm["memory"] = "performance-1x", "2048"
		},
		"the preset's own memory": func(t *testing.T, m flyTable) { delete(firstEntry(t, m, "vm"), "memory") },
		"rolling":                 func(t *testing.T, m flyTable) { table(t, m, "deploy")["strategy"] = "rolling" },
		"canary":                  func(t *testing.T, m flyTable) { table(t, m, "deploy")["strategy"] = "canary" },
		"immediate":               func(t *testing.T, m flyTable) { table(t, m, "deploy")["strategy"] = "immediate" },
		"flyctl's default strategy": func(t *testing.T, m flyTable) {
			delete(table(t, m, "deploy"), "strategy")
		},
		"sections this project does not use": func(t *testing.T, m flyTable) {
			m["env"] = flyTable{"LOG_FORMAT": "json"}
			m["mounts"] = []flyTable{{"source": "data", "destination": "/data"}}
			m["metrics"] = []flyTable{{"port": 9091, "path": "/metrics"}}
			table(t, m, "http_service")["http_options"] = flyTable{"response": flyTable{"headers": flyTable{"X-Frame-Options": "DENY"}}}
		},
		"longer timeouts": func(t *testing.T, m flyTable) {
			m["kill_timeout"] = "30s"
			table(t, m, "deploy")["wait_timeout"] = "10m"
			check := firstEntry(t, table(t, m, "http_service"), "checks")
			check["interval"], check["timeout"], check["grace_period"] = "2m", "5s", "20s"
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			m := parsedFlyToml(t)
			edit(t, m)
			if complaints := standInComplaints(encodeFlyToml(t, m)); len(complaints) > 0 {
				t.Errorf("a valid edit is rejected: %q", complaints)
			}
		})
	}
}

// Whichever validator runs here (real flyctl or the stand-in) rejects a
// misspelt key, naming it.
func TestFlyTomlValidatorRejectsAMisspeltKey(t *testing.T) {
	requireValidFlyToml(t)
	m := parsedFlyToml(t)
	typo := misspell(t, table(t, m, "http_service"))
	path := filepath.Join(t.TempDir(), "fly.toml")
	if err := os.WriteFile(path, []byte(encodeFlyToml(t, m)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, validator, err := validateFlyToml(path)
	if err == nil || !strings.Contains(err.Error(), typo) {
		t.Errorf("%s: a misspelt key %q: got %v, want an error naming it", validator, typo, err)
	}
}
