package pipeline

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// Allowances for what neither scripts/deploy nor fly.toml bounds: the steps
// before scripts/deploy (checkout, flyctl, Nix, Go, building scripts/verify)
// and flyctl's API calls (two status reads, releases, leases, the rollback's
// machine updates with --strategy immediate, which waits for nothing).
const (
	setupAllowance  = 5 * time.Minute
	flyctlAllowance = 2 * time.Minute
	// Rolling and canary wait machine by machine; fly.toml does not say how
	// many there are. Two is what flyctl's --ha creates for a new app.
	assumedMachines = 2
)

// deployTimeouts are what bound the deploy job's worst case.
type deployTimeouts struct {
	build, verify, wait, releaseCommand time.Duration
	strategy                            string
}

// rollout bounds one `flyctl deploy` after the image is built, from flyctl
// v0.4.87's waits (internal/command/deploy): bluegreen waits up to
// wait_timeout for the green machines to start, again for them to be
// healthy and again for blue to stop, and sleeps 10s before cordoning and
// 10s before stopping (strategy_bluegreen.go); rolling and canary wait per
// machine for started and for health checks (each wait_timeout) with 10s of
// smoke checks in between (machines_deploymachinesapp.go, waitForMachine;
// canary adds its canary machine); immediate waits for nothing.
func (d deployTimeouts) rollout() (time.Duration, error) {
	perMachine := 2*d.wait + 10*time.Second
	var r time.Duration
	switch d.strategy {
	case "bluegreen":
		r = 3*d.wait + 20*time.Second
	case "rolling", "":
		r = assumedMachines * perMachine
	case "canary":
		r = (assumedMachines + 1) * perMachine
	case "immediate":
	default:
		return 0, fmt.Errorf("[deploy] strategy %q is none of bluegreen, rolling, canary, immediate", d.strategy)
	}
	return r + d.releaseCommand, nil
}

// worstCase is the longest the deploy job can run: a hung build stopped
// after the build timeout, the retry building just as long and then rolling
// out, the new release failing verification, the rollback and the previous
// release's verification.
func (d deployTimeouts) worstCase() (time.Duration, error) {
	r, err := d.rollout()
	if err != nil {
		return 0, err
	}
	return setupAllowance + 2*d.build + r + 2*d.verify + flyctlAllowance, nil
}

var (
	buildTimeoutDefault  = regexp.MustCompile(`\$\{FLAKESHIP_BUILD_TIMEOUT:-([0-9]+)\}`)
	verifyTimeoutDefault = regexp.MustCompile(`\$\{FLAKESHIP_VERIFY_TIMEOUT:-([^}]+)\}`)
)

// readDeployTimeouts takes the timeouts from scripts/deploy's defaults, unless
// the deploy step's env overrides them, and from fly.toml's [deploy].
func readDeployTimeouts(script, flyToml string, stepEnv map[string]string) (deployTimeouts, error) {
	var d deployTimeouts
	build := stepEnv["FLAKESHIP_BUILD_TIMEOUT"]
	if build == "" {
		m := buildTimeoutDefault.FindStringSubmatch(script)
		if m == nil {
			return d, fmt.Errorf("scripts/deploy has no ${FLAKESHIP_BUILD_TIMEOUT:-<seconds>} default")
		}
		build = m[1]
	}
	secs, err := strconv.Atoi(build)
	if err != nil {
		return d, fmt.Errorf("FLAKESHIP_BUILD_TIMEOUT %q is not whole seconds", build)
	}
	d.build = time.Duration(secs) * time.Second
	verify := stepEnv["FLAKESHIP_VERIFY_TIMEOUT"]
	if verify == "" {
		m := verifyTimeoutDefault.FindStringSubmatch(script)
		if m == nil {
			return d, fmt.Errorf("scripts/deploy has no ${FLAKESHIP_VERIFY_TIMEOUT:-<duration>} default")
		}
		verify = m[1]
	}
	if d.verify, err = time.ParseDuration(verify); err != nil {
		return d, fmt.Errorf("FLAKESHIP_VERIFY_TIMEOUT: %w", err)
	}

	var cfg struct {
		Deploy struct {
			Strategy              string `toml:"strategy"`
			WaitTimeout           string `toml:"wait_timeout"`
			ReleaseCommand        string `toml:"release_command"`
			ReleaseCommandTimeout string `toml:"release_command_timeout"`
		} `toml:"deploy"`
	}
	if _, err := toml.Decode(flyToml, &cfg); err != nil {
		return d, fmt.Errorf("fly.toml: %w (wait_timeout and release_command_timeout must be duration strings such as \"3m\")", err)
	}
	d.strategy = cfg.Deploy.Strategy
	wait := stepEnv["FLAKESHIP_WAIT_TIMEOUT"] // passed as --wait-timeout, which beats fly.toml
	if wait == "" {
		wait = cfg.Deploy.WaitTimeout
	}
	if wait == "" {
		return d, fmt.Errorf("fly.toml has no [deploy] wait_timeout: set it (e.g. wait_timeout = \"3m\") so the deploy's time budget is known")
	}
	if d.wait, err = time.ParseDuration(wait); err != nil {
		return d, fmt.Errorf("[deploy] wait_timeout: %w", err)
	}
	if cfg.Deploy.ReleaseCommand != "" {
		if cfg.Deploy.ReleaseCommandTimeout == "" {
			return d, fmt.Errorf("fly.toml has a release_command but no release_command_timeout: set one so the deploy's time budget is known")
		}
		if d.releaseCommand, err = time.ParseDuration(cfg.Deploy.ReleaseCommandTimeout); err != nil {
			return d, fmt.Errorf("[deploy] release_command_timeout: %w", err)
		}
	}
	return d, nil
}

func TestDeployJobTimeoutCoversTheWorstCase(t *testing.T) {
	root := testkit.RepoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, "scripts", "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	flyToml, err := os.ReadFile(filepath.Join(root, "fly.toml"))
	if err != nil {
		t.Fatal(err)
	}
	job := workflowNamed(t, "deploy.yml").job(t, "deploy")
	stepEnv := map[string]string{}
	for _, step := range get(job, "steps").Content {
		if id := get(step, "id"); id != nil && id.Value == "deploy" {
			env := get(step, "env")
			for _, k := range keys(env) {
				stepEnv[k] = get(env, k).Value
			}
		}
	}
	d, err := readDeployTimeouts(string(script), string(flyToml), stepEnv)
	if err != nil {
		t.Fatal(err)
	}
	worst, err := d.worstCase()
	if err != nil {
		t.Fatal(err)
	}
	n := get(job, "timeout-minutes")
	if n == nil {
		t.Fatal("deploy.yml: job deploy has no timeout-minutes")
	}
	minutes, err := strconv.Atoi(n.Value)
	if err != nil {
		t.Fatalf("deploy.yml: job deploy timeout-minutes %q is not a whole number", n.Value)
	}
	if need := int(math.Ceil(worst.Minutes())); minutes < need {
		t.Errorf("deploy.yml: job deploy has timeout-minutes: %d, but its worst case is %s (%s): "+
			"set timeout-minutes: %d or more, or lower the timeouts, or a rollback is cut off mid-way", minutes, worst, d, need)
	}
}

func (d deployTimeouts) String() string {
	r, _ := d.rollout()
	return fmt.Sprintf("%s setup + 2 x %s build + %s %s rollout (wait_timeout %s) + 2 x %s verify + %s flyctl calls",
		setupAllowance, d.build, r, strings.TrimSpace(d.strategy+" "), d.wait, d.verify, flyctlAllowance)
}

// The budget follows the timeouts it is made of, so lengthening one of them
// without the job's timeout-minutes fails the check above.
func TestDeployBudgetFollowsTheTimeouts(t *testing.T) {
	script := `build_timeout="${FLAKESHIP_BUILD_TIMEOUT:-600}"` + "\n" + `verify_timeout="${FLAKESHIP_VERIFY_TIMEOUT:-2m}"`
	base, err := readDeployTimeouts(script, "[deploy]\nstrategy = \"bluegreen\"\nwait_timeout = \"1m\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (deployTimeouts{build: 10 * time.Minute, verify: 2 * time.Minute, wait: time.Minute, strategy: "bluegreen"}); base != want {
		t.Fatalf("read %+v, want %+v", base, want)
	}
	worst, _ := base.worstCase()
	longer := map[string]deployTimeouts{}
	for name, env := range map[string]map[string]string{
		"step env FLAKESHIP_BUILD_TIMEOUT":  {"FLAKESHIP_BUILD_TIMEOUT": "601"},
		"step env FLAKESHIP_VERIFY_TIMEOUT": {"FLAKESHIP_VERIFY_TIMEOUT": "3m"},
		"step env FLAKESHIP_WAIT_TIMEOUT":   {"FLAKESHIP_WAIT_TIMEOUT": "2m"},
	} {
		d, err := readDeployTimeouts(script, "[deploy]\nstrategy = \"bluegreen\"\nwait_timeout = \"1m\"\n", env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		longer[name] = d
	}
	for name, toml := range map[string]string{
		"a longer wait_timeout":      "[deploy]\nstrategy = \"bluegreen\"\nwait_timeout = \"2m\"\n",
		"a release command":          "[deploy]\nstrategy = \"bluegreen\"\nwait_timeout = \"1m\"\nrelease_command = \"migrate\"\nrelease_command_timeout = \"1m\"\n",
		"rolling machine by machine": "[deploy]\nstrategy = \"rolling\"\nwait_timeout = \"1m\"\n",
	} {
		d, err := readDeployTimeouts(script, toml, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		longer[name] = d
	}
	for name, d := range longer {
		if w, err := d.worstCase(); err != nil || w <= worst {
			t.Errorf("%s: worst case %s (%v), want more than %s", name, w, err, worst)
		}
	}
	for name, toml := range map[string]string{
		"no wait_timeout":             "[deploy]\nstrategy = \"bluegreen\"\n",
		"release_command, no timeout": "[deploy]\nwait_timeout = \"1m\"\nrelease_command = \"migrate\"\n",
	} {
		if _, err := readDeployTimeouts(script, toml, nil); err == nil || !strings.Contains(err.Error(), "so the deploy's time budget is known") {
			t.Errorf("%s: err %v, want one saying what to set", name, err)
		}
	}
	if _, err := readDeployTimeouts("", "", nil); err == nil || !strings.Contains(err.Error(), "FLAKESHIP_BUILD_TIMEOUT") {
		t.Errorf("a script without defaults: err %v, want one naming the missing default", err)
	}
}
