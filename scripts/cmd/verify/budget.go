package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/sethvargo/go-githubactions"
)

const deployBudgetCommand = "deploy-budget"

const (
	// Allowances for what neither scripts/deploy nor fly.toml bounds: the
	// steps before scripts/deploy (checkout, flyctl, Nix, Go, building
	// scripts/verify) and flyctl's API calls (two status reads, releases,
	// leases, the rollback's machine updates with --strategy immediate,
	// which waits for nothing).
	setupAllowance  = 5 * time.Minute
	flyctlAllowance = 2 * time.Minute
	// Rolling and canary wait machine by machine; fly.toml does not say how
	// many there are. Two is what flyctl's --ha creates for a new app.
	assumedMachines = 2
	// A job on a GitHub-hosted runner is stopped after 6 hours whatever its
	// timeout-minutes (docs.github.com/en/actions/reference/limits, "Job
	// execution time"; 360 is also timeout-minutes' default).
	githubJobLimitMinutes = 360
)

// deployTimeouts are what bound the deploy job's worst case.
type deployTimeouts struct {
	build, verify, wait, releaseCommand time.Duration
	strategy                            string
}

// runDeployBudget prints the deploy job's timeout-minutes: its worst case
// in whole minutes, rounded up (and, in Actions, the step output minutes).
func runDeployBudget(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet(deployBudgetCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "fly.toml", "fly.toml whose [deploy] bounds the rollout")
	script := fs.String("deploy-script", "scripts/deploy", "the script whose DEPLOY_*_TIMEOUT defaults apply")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "verify: %s: unexpected argument %q\n%s\n", deployBudgetCommand, fs.Arg(0), usageLine)
		return exitUsage
	}
	minutes, d, err := deployBudget(*config, *script, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %s: %v\n", deployBudgetCommand, err)
		return exitFail
	}
	fmt.Fprintf(stderr, "verify: deploy budget %d minutes: %s\n", minutes, d)
	fmt.Fprintln(stdout, minutes)
	if getenv("GITHUB_OUTPUT") != "" {
		githubactions.New(githubactions.WithWriter(stderr), githubactions.WithGetenv(getenv)).SetOutput("minutes", strconv.Itoa(minutes))
	}
	return exitOK
}

func deployBudget(configPath, scriptPath string, getenv func(string) string) (int, deployTimeouts, error) {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return 0, deployTimeouts{}, fmt.Errorf("%w (--deploy-script names scripts/deploy; run from the repository root)", err)
	}
	flyToml, err := os.ReadFile(configPath)
	if err != nil {
		return 0, deployTimeouts{}, fmt.Errorf("%w (--config names fly.toml; run from the repository root)", err)
	}
	d, err := readDeployTimeouts(string(script), string(flyToml), getenv)
	if err != nil {
		return 0, d, err
	}
	minutes, err := d.minutes()
	return minutes, d, err
}

// rollout bounds one `flyctl deploy` after the image is built, from flyctl
// v0.4.87's waits (internal/command/deploy): bluegreen waits up to
// wait_timeout for the green machines to start, again for them to be
// healthy and again for blue to stop, and sleeps 10s before cordoning and
// 10s before stopping (strategy_bluegreen.go); rolling and canary wait per
// machine for started and for health checks (each wait_timeout) with 10s of
// smoke checks in between (machines_deploymachinesapp.go, waitForMachine;
// canary adds its canary machine); immediate waits for nothing. flyctl's
// default strategy is rolling (machines.go, setStrategy).
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
		return 0, fmt.Errorf("fly.toml: [deploy] strategy %q is none of bluegreen, rolling, canary, immediate", d.strategy)
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

func (d deployTimeouts) minutes() (int, error) {
	worst, err := d.worstCase()
	if err != nil {
		return 0, err
	}
	m := int(math.Ceil(worst.Minutes()))
	if m > githubJobLimitMinutes {
		return 0, fmt.Errorf("the deploy's worst case is %s (%s), over GitHub's %d-minute job limit, so a rollback could be cut off: "+
			"lower [deploy] wait_timeout in fly.toml, DEPLOY_BUILD_TIMEOUT or DEPLOY_VERIFY_TIMEOUT "+
			"(rolling and canary wait for every machine; bluegreen waits once)", worst, d, githubJobLimitMinutes)
	}
	return m, nil
}

func (d deployTimeouts) String() string {
	r, _ := d.rollout()
	strategy := d.strategy
	if strategy == "" {
		strategy = "rolling"
	}
	return fmt.Sprintf("%s setup + 2 x %s build + %s %s rollout (wait_timeout %s, release command %s) + 2 x %s verify + %s flyctl calls",
		setupAllowance, d.build, r, strategy, d.wait, d.releaseCommand, d.verify, flyctlAllowance)
}

// scripts/deploy holds the defaults, as ${NAME:-default}; reading them
// from its source keeps them in one place.
var (
	buildTimeoutDefault  = regexp.MustCompile(`\$\{DEPLOY_BUILD_TIMEOUT:-([0-9]+)\}`)
	verifyTimeoutDefault = regexp.MustCompile(`\$\{DEPLOY_VERIFY_TIMEOUT:-([^}]+)\}`)
)

// readDeployTimeouts takes the timeouts from the environment (what the
// deploy step sets), else from scripts/deploy's defaults, and from
// fly.toml's [deploy].
func readDeployTimeouts(script, flyToml string, getenv func(string) string) (deployTimeouts, error) {
	var d deployTimeouts
	valueOrDefault := func(name string, re *regexp.Regexp, form string) (string, error) {
		if v := getenv(name); v != "" {
			return v, nil
		}
		m := re.FindStringSubmatch(script)
		if m == nil {
			return "", fmt.Errorf("scripts/deploy has no ${%s:-%s} default: set %s or restore the default", name, form, name)
		}
		return m[1], nil
	}
	build, err := valueOrDefault("DEPLOY_BUILD_TIMEOUT", buildTimeoutDefault, "<seconds>")
	if err != nil {
		return d, err
	}
	secs, err := strconv.Atoi(build)
	if err != nil || secs <= 0 {
		return d, fmt.Errorf("DEPLOY_BUILD_TIMEOUT %q is not a positive number of seconds, e.g. 900", build)
	}
	d.build = time.Duration(secs) * time.Second
	verify, err := valueOrDefault("DEPLOY_VERIFY_TIMEOUT", verifyTimeoutDefault, "<duration>")
	if err != nil {
		return d, err
	}
	if d.verify, err = parsePositive("DEPLOY_VERIFY_TIMEOUT", verify); err != nil {
		return d, err
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
	wait := getenv("DEPLOY_WAIT_TIMEOUT") // passed as --wait-timeout, which beats fly.toml
	if wait == "" {
		wait = cfg.Deploy.WaitTimeout
	}
	if wait == "" {
		return d, errors.New("fly.toml has no [deploy] wait_timeout: set it (e.g. wait_timeout = \"3m\") so the deploy's time budget is known")
	}
	if d.wait, err = parsePositive("[deploy] wait_timeout", wait); err != nil {
		return d, err
	}
	if cfg.Deploy.ReleaseCommand != "" {
		if cfg.Deploy.ReleaseCommandTimeout == "" {
			return d, errors.New("fly.toml has a release_command but no release_command_timeout: set one (e.g. release_command_timeout = \"5m\") so the deploy's time budget is known")
		}
		if d.releaseCommand, err = parsePositive("[deploy] release_command_timeout", cfg.Deploy.ReleaseCommandTimeout); err != nil {
			return d, err
		}
	}
	return d, nil
}

func parsePositive(name, s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s %q is not a positive Go duration such as 3m or 90s", name, s)
	}
	return v, nil
}
