package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const budgetScript = `build_timeout="${DEPLOY_BUILD_TIMEOUT:-600}"` + "\n" + `verify_timeout="${DEPLOY_VERIFY_TIMEOUT:-2m}"` + "\n"

func deployToml(lines ...string) string { return "[deploy]\n" + strings.Join(lines, "\n") + "\n" }

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestDeployBudgetPerStrategy(t *testing.T) {
	// 10m build, 2m verify, 1m wait_timeout: 5m setup + 20m builds + 4m verifies + 2m flyctl = 31m
	// plus the rollout.
	const fixed = 31 * time.Minute
	for _, c := range []struct {
		name, toml string
		rollout    time.Duration
	}{
		{"bluegreen: three waits and two 10s pauses", deployToml(`strategy = "bluegreen"`, `wait_timeout = "1m"`), 3*time.Minute + 20*time.Second},
		{"rolling: two waits and a smoke check per machine", deployToml(`strategy = "rolling"`, `wait_timeout = "1m"`), 2 * (2*time.Minute + 10*time.Second)},
		{"no strategy is flyctl's rolling", deployToml(`wait_timeout = "1m"`), 2 * (2*time.Minute + 10*time.Second)},
		{"canary: one machine more than rolling", deployToml(`strategy = "canary"`, `wait_timeout = "1m"`), 3 * (2*time.Minute + 10*time.Second)},
		{"immediate waits for nothing", deployToml(`strategy = "immediate"`, `wait_timeout = "1m"`), 0},
		{"a release command adds its timeout", deployToml(`strategy = "immediate"`, `wait_timeout = "1m"`, `release_command = "migrate"`, `release_command_timeout = "4m"`), 4 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := readDeployTimeouts(budgetScript, c.toml, envOf(nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.worstCase()
			if err != nil {
				t.Fatal(err)
			}
			if want := fixed + c.rollout; got != want {
				t.Errorf("worst case %s, want %s (%s)", got, want, d)
			}
		})
	}
}

func TestDeployBudgetEnvBeatsTheDefaults(t *testing.T) {
	toml := deployToml(`strategy = "bluegreen"`, `wait_timeout = "1m"`)
	d, err := readDeployTimeouts(budgetScript, toml, envOf(map[string]string{
		"DEPLOY_BUILD_TIMEOUT":  "60",
		"DEPLOY_VERIFY_TIMEOUT": "30s",
		"DEPLOY_WAIT_TIMEOUT":   "2m", // scripts/deploy passes it as --wait-timeout, which beats fly.toml
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := deployTimeouts{build: time.Minute, verify: 30 * time.Second, wait: 2 * time.Minute, strategy: "bluegreen"}
	if d != want {
		t.Errorf("read %+v, want %+v", d, want)
	}
}

func TestDeployBudgetRoundsUpToWholeMinutes(t *testing.T) {
	d := deployTimeouts{build: 10 * time.Minute, verify: 2 * time.Minute, wait: time.Minute, strategy: "bluegreen"}
	if m, err := d.minutes(); err != nil || m != 35 { // 34m20s
		t.Errorf("minutes %d (%v), want 35", m, err)
	}
}

func TestDeployBudgetOverGitHubsJobLimitNamesTheFix(t *testing.T) {
	d, err := readDeployTimeouts(budgetScript, deployToml(`strategy = "canary"`, `wait_timeout = "1h"`), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.minutes()
	if err == nil || !strings.Contains(err.Error(), "360-minute job limit") || !strings.Contains(err.Error(), "lower [deploy] wait_timeout") {
		t.Errorf("err %v, want one naming GitHub's 360-minute limit and what to lower", err)
	}
}

func TestDeployBudgetRejectsBadInput(t *testing.T) {
	wait := `wait_timeout = "1m"`
	for _, c := range []struct {
		name, script, toml string
		env                map[string]string
		want               string
	}{
		{"unknown strategy", budgetScript, deployToml(`strategy = "bluegren"`, wait), nil, `strategy "bluegren" is none of bluegreen, rolling, canary, immediate`},
		{"no wait_timeout", budgetScript, deployToml(`strategy = "bluegreen"`), nil, `set it (e.g. wait_timeout = "3m")`},
		{"wait_timeout not a duration", budgetScript, deployToml(`wait_timeout = "3 minutes"`), nil, "wait_timeout \"3 minutes\" is not a positive Go duration"},
		{"wait_timeout a number", budgetScript, deployToml(`wait_timeout = 180`), nil, "must be duration strings"},
		{"release_command without a timeout", budgetScript, deployToml(wait, `release_command = "migrate"`), nil, "no release_command_timeout: set one"},
		{"fly.toml not TOML", budgetScript, "[deploy\n", nil, "fly.toml:"},
		{"build timeout not seconds", budgetScript, deployToml(wait), map[string]string{"DEPLOY_BUILD_TIMEOUT": "15m"}, `DEPLOY_BUILD_TIMEOUT "15m" is not a positive number of seconds`},
		{"verify timeout not a duration", budgetScript, deployToml(wait), map[string]string{"DEPLOY_VERIFY_TIMEOUT": "3"}, `DEPLOY_VERIFY_TIMEOUT "3" is not a positive Go duration`},
		{"negative wait override", budgetScript, deployToml(wait), map[string]string{"DEPLOY_WAIT_TIMEOUT": "-1m"}, "is not a positive Go duration"},
		{"scripts/deploy without defaults", "#!/usr/bin/env bash\n", deployToml(wait), nil, "scripts/deploy has no ${DEPLOY_BUILD_TIMEOUT:-<seconds>} default"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := readDeployTimeouts(c.script, c.toml, envOf(c.env))
			if err == nil {
				_, err = d.minutes()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestDeployBudgetCommandPrintsMinutesAndTheStepOutput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := write("fly.toml", deployToml(`strategy = "bluegreen"`, `wait_timeout = "1m"`))
	script := write("deploy", budgetScript)
	output := write("github_output", "")
	var stdout, stderr bytes.Buffer
	env := envOf(map[string]string{"GITHUB_OUTPUT": output})
	code := run([]string{deployBudgetCommand, "--config", config, "--deploy-script", script}, nil, &stdout, &stderr, env)
	if code != exitOK || stdout.String() != "35\n" {
		t.Fatalf("exit %d, stdout %q, want 0 and \"35\\n\"\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "bluegreen rollout") {
		t.Errorf("stderr does not show what the budget is made of: %q", stderr.String())
	}
	if got, _ := os.ReadFile(output); !strings.Contains(string(got), "minutes") || !strings.Contains(string(got), "35") {
		t.Errorf("GITHUB_OUTPUT holds %q, want the output minutes=35", got)
	}

	stdout.Reset()
	stderr.Reset()
	code = run([]string{deployBudgetCommand, "--config", filepath.Join(dir, "absent.toml"), "--deploy-script", script}, nil, &stdout, &stderr, envOf(nil))
	if code != exitFail || stdout.Len() != 0 || !strings.Contains(stderr.String(), "--config names fly.toml") {
		t.Errorf("missing fly.toml: exit %d, stdout %q, stderr %q; want 1, nothing on stdout and the flag named", code, stdout.String(), stderr.String())
	}
	if code = run([]string{deployBudgetCommand, "extra"}, nil, &stdout, &stderr, envOf(nil)); code != exitUsage {
		t.Errorf("a stray argument: exit %d, want %d", code, exitUsage)
	}
}
