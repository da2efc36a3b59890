package image

import (
	"os"
	"strings"
	"testing"
)

func mustFlyConfig(t *testing.T) *flyConfig {
	t.Helper()
	f, err := os.Open(repoFile(t, "fly.toml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := decodeFlyConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestFlyTomlUsesOnlyKeysFlyctlKnows(t *testing.T) {
	cfg := mustFlyConfig(t)
	for _, p := range checkFlyConfig(cfg) {
		t.Error("fly.toml: " + p)
	}
}

// Each case breaks the real fly.toml in one way; decoding or checking it
// must fail naming the given word.
func TestFlyTomlCheckRejectsMistakes(t *testing.T) {
	b, err := os.ReadFile(repoFile(t, "fly.toml"))
	if err != nil {
		t.Fatal(err)
	}
	original := string(b)
	cases := []struct{ name, old, new, complaint string }{
		{"typo in a key", "internal_port =", "internal_prot =", "internal_prot"},
		{"typo in a top-level key", "kill_timeout =", "kill_timout =", "kill_timout"},
		{"typo in a check key", "grace_period =", "grace_perod =", "grace_perod"},
		{"unknown section", "[build]", "[biuld]", "biuld"},
		{"deprecated section", "[build]", "[experimental]\n  auto_rollback = true\n\n[build]", "experimental"},
		{"boolean auto_stop_machines", `auto_stop_machines = "stop"`, `auto_stop_machines = true`, "deprecated boolean"},
		{"bare-number duration", `kill_timeout = "15s"`, `kill_timeout = 15`, "must be a string"},
		{"unknown strategy", `strategy = "bluegreen"`, `strategy = "blue-green"`, "blue-green"},
		{"plain http", "force_https = true", "force_https = false", "force_https"},
		{"unknown vm size", `size = "shared-cpu-1x"`, `size = "shared-cpu-1"`, "shared-cpu-1"},
		{"too little memory", `memory = "256mb"`, `memory = "128mb"`, "allows 256 to 2048 MB"},
		{"soft above hard", "hard_limit = ", "hard_limit = 1 # ", "soft_limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(original, c.old) {
				t.Fatalf("fly.toml no longer contains %q; update this case to the new text", c.old)
			}
			cfg, err := decodeFlyConfig(strings.NewReader(strings.Replace(original, c.old, c.new, 1)))
			var complaints []string
			if err != nil {
				complaints = append(complaints, err.Error())
			} else {
				complaints = checkFlyConfig(cfg)
			}
			for _, p := range complaints {
				if strings.Contains(p, c.complaint) {
					return
				}
			}
			t.Errorf("replacing %q with %q: want a complaint containing %q, got %q", c.old, c.new, c.complaint, complaints)
		})
	}
}

func TestFlyTomlCheckRejectsBluegreenWithoutChecks(t *testing.T) {
	cfg := mustFlyConfig(t)
	cfg.Deploy = &flyDeploy{Strategy: "bluegreen"}
	cfg.HTTPService.Checks = nil
	for _, p := range checkFlyConfig(cfg) {
		if strings.Contains(p, "bluegreen needs") {
			return
		}
	}
	t.Errorf("a bluegreen config without checks passed: %q", checkFlyConfig(cfg))
}
