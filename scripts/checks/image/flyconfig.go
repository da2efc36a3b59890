package image

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	units "github.com/docker/go-units"
)

// flyConfig mirrors the parts of flyctl's appconfig.Config (internal/appconfig
// at v0.4.87, types from fly-go v0.9.6) that flakeship uses, with every key
// flyctl knows in those parts. A key outside it fails the check, as
// `fly config validate --strict` would; sections flyctl knows but flakeship
// does not use are reported as unused, not silently passed.
type flyConfig struct {
	App            string            `toml:"app"`
	PrimaryRegion  string            `toml:"primary_region"`
	KillSignal     string            `toml:"kill_signal"`
	KillTimeout    *flyDuration      `toml:"kill_timeout"`
	SwapSizeMB     *int              `toml:"swap_size_mb"`
	ConsoleCommand string            `toml:"console_command"`
	Env            map[string]string `toml:"env"`
	Build          *flyBuild         `toml:"build"`
	Deploy         *flyDeploy        `toml:"deploy"`
	HTTPService    *flyHTTPService   `toml:"http_service"`
	VM             []flyCompute      `toml:"vm"`
}

type flyBuild struct {
	Builder          string            `toml:"builder"`
	Args             map[string]string `toml:"args"`
	Buildpacks       []string          `toml:"buildpacks"`
	Image            string            `toml:"image"`
	Builtin          string            `toml:"builtin"`
	Dockerfile       string            `toml:"dockerfile"`
	Ignorefile       string            `toml:"ignorefile"`
	BuildTarget      string            `toml:"build-target"`
	Compression      string            `toml:"compression"`
	CompressionLevel *int              `toml:"compression_level"`
}

type flyDeploy struct {
	Strategy              string       `toml:"strategy"`
	MaxUnavailable        *float64     `toml:"max_unavailable"`
	WaitTimeout           *flyDuration `toml:"wait_timeout"`
	ReleaseCommand        string       `toml:"release_command"`
	ReleaseCommandTimeout *flyDuration `toml:"release_command_timeout"`
	SeedCommand           string       `toml:"seed_command"`
}

type flyHTTPService struct {
	InternalPort       int             `toml:"internal_port"`
	ForceHTTPS         bool            `toml:"force_https"`
	AutoStopMachines   *flyAutostop    `toml:"auto_stop_machines"`
	AutoStartMachines  *bool           `toml:"auto_start_machines"`
	MinMachinesRunning *int            `toml:"min_machines_running"`
	Processes          []string        `toml:"processes"`
	Concurrency        *flyConcurrency `toml:"concurrency"`
	Checks             []flyHTTPCheck  `toml:"checks"`
}

type flyConcurrency struct {
	Type      string `toml:"type"`
	HardLimit int    `toml:"hard_limit"`
	SoftLimit int    `toml:"soft_limit"`
}

type flyHTTPCheck struct {
	Interval      *flyDuration      `toml:"interval"`
	Timeout       *flyDuration      `toml:"timeout"`
	GracePeriod   *flyDuration      `toml:"grace_period"`
	Method        string            `toml:"method"`
	Path          string            `toml:"path"`
	Protocol      string            `toml:"protocol"`
	TLSSkipVerify *bool             `toml:"tls_skip_verify"`
	TLSServerName string            `toml:"tls_server_name"`
	Headers       map[string]string `toml:"headers"`
}

// flyCompute is a [[vm]] entry: appconfig.Compute with fly.MachineGuest inlined.
type flyCompute struct {
	Size             string   `toml:"size"`
	Memory           string   `toml:"memory"`
	CPUKind          string   `toml:"cpu_kind"`
	CPUs             int      `toml:"cpus"`
	MemoryMB         int      `toml:"memory_mb"`
	MaxMemoryMB      int      `toml:"max_memory_mb"`
	GPUs             int      `toml:"gpus"`
	GPUKind          string   `toml:"gpu_kind"`
	HostDedicationID string   `toml:"host_dedication_id"`
	KernelArgs       []string `toml:"kernel_args"`
	Processes        []string `toml:"processes"`
}

// flyDuration accepts Go duration strings only. flyctl also takes numbers,
// but reads them as seconds in kill_timeout, milliseconds in [[services]]
// and [checks] check durations (internal/appconfig/patches.go) and
// nanoseconds elsewhere, [[http_service.checks]] included: a string is never
// ambiguous.
type flyDuration struct{ time.Duration }

func (d *flyDuration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("duration %v must be a string such as \"15s\" (flyctl reads bare numbers as seconds, milliseconds or nanoseconds depending on the key)", v)
	}
	var err error
	d.Duration, err = time.ParseDuration(s)
	return err
}

// flyAutostop is fly.MachineAutostop without the deprecated booleans.
type flyAutostop string

func (a *flyAutostop) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		return fmt.Errorf("auto_stop_machines = %v is the deprecated boolean form; write \"stop\" or \"off\"", v)
	case string:
		if !slices.Contains([]string{"off", "stop", "suspend"}, v) {
			return fmt.Errorf("auto_stop_machines = %q: want \"off\", \"stop\" or \"suspend\"", v)
		}
		*a = flyAutostop(v)
		return nil
	}
	return fmt.Errorf("auto_stop_machines = %v: want \"off\", \"stop\" or \"suspend\"", v)
}

// flyctlTopLevel are the top-level keys of appconfig.Config at v0.4.87.
var flyctlTopLevel = []string{
	"app", "primary_region", "kill_signal", "kill_timeout", "swap_size_mb", "console_command",
	"experimental", "build", "deploy", "env", "processes", "mounts", "http_service", "services",
	"checks", "files", "host_dedication_id", "machine_config", "container", "machine_checks",
	"restart", "vm", "statics", "metrics",
}

// decodeFlyConfig reads fly.toml and fails on any key it does not know.
func decodeFlyConfig(r io.Reader) (*flyConfig, error) {
	var cfg flyConfig
	md, err := toml.NewDecoder(r).Decode(&cfg)
	if err != nil {
		return nil, fmt.Errorf("fly.toml: %w", err)
	}
	var errs []error
	for _, key := range md.Undecoded() {
		top := key[0]
		switch {
		case !slices.Contains(flyctlTopLevel, top):
			errs = append(errs, fmt.Errorf("fly.toml: %q is not a key flyctl knows (check its spelling against https://fly.io/docs/reference/configuration/)", key.String()))
		case len(key) == 1:
			errs = append(errs, fmt.Errorf("fly.toml: [%s] is valid for flyctl but deprecated or unused by flakeship; this check does not cover it: remove it, or mirror it from flyctl's internal/appconfig in scripts/checks/image", top))
		default:
			errs = append(errs, fmt.Errorf("fly.toml: %q is not a key flyctl knows in [%s] (check its spelling)", key.String(), top))
		}
	}
	return &cfg, errors.Join(errs...)
}

var deployStrategies = []string{"canary", "rolling", "immediate", "bluegreen"}

// checkFlyConfig returns the ways cfg breaks flyctl's validation or the
// project's rules for it.
func checkFlyConfig(cfg *flyConfig) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if cfg.App == "" {
		bad("app must name the Fly app (the one place the name lives)")
	}
	if cfg.PrimaryRegion == "" {
		bad("primary_region must be set: min_machines_running and new machines use it")
	}
	if cfg.KillSignal == "" || cfg.KillTimeout == nil {
		bad("kill_signal and kill_timeout must be set explicitly (Fly's default signal is documented inconsistently)")
	} else if cfg.KillTimeout.Duration > 300*time.Second {
		bad("kill_timeout %s is above Fly's maximum of 300s", cfg.KillTimeout.Duration)
	}
	for name := range cfg.Env {
		if strings.HasPrefix(name, "FLY_") {
			bad("[env] %s: names starting with FLY_ are reserved by Fly", name)
		}
	}
	if cfg.Build == nil || cfg.Build.Dockerfile == "" || cfg.Build.Image != "" {
		bad("[build] must name the Dockerfile (dockerfile = \"Dockerfile\") and no prebuilt image")
	}
	s := cfg.HTTPService
	if s == nil {
		return append(problems, "[http_service] is missing")
	}
	if !s.ForceHTTPS {
		bad("[http_service] force_https must be true")
	}
	if c := s.Concurrency; c == nil || !slices.Contains([]string{"connections", "requests"}, c.Type) || c.SoftLimit <= 0 || c.SoftLimit > c.HardLimit {
		bad("[http_service.concurrency] needs type \"requests\" or \"connections\" and 0 < soft_limit <= hard_limit")
	}
	for i, c := range s.Checks {
		if c.Path == "" || !strings.HasPrefix(c.Path, "/") {
			bad("[[http_service.checks]] #%d: path must be an absolute URL path", i+1)
		}
		if c.Method != "" && c.Method != http.MethodGet && c.Method != http.MethodHead {
			bad("[[http_service.checks]] #%d: method %q: use GET or HEAD", i+1, c.Method)
		}
		for _, d := range []struct {
			name string
			v    *flyDuration
			min  time.Duration
		}{{"interval", c.Interval, time.Second}, {"timeout", c.Timeout, time.Second}, {"grace_period", c.GracePeriod, 0}} {
			if d.v == nil {
				bad("[[http_service.checks]] #%d: set %s explicitly", i+1, d.name)
			} else if d.v.Duration < d.min || d.v.Duration > time.Minute {
				bad("[[http_service.checks]] #%d: %s %s is outside Fly's range (%s to 1m)", i+1, d.name, d.v.Duration, d.min)
			}
		}
		if c.Timeout != nil && c.Interval != nil && c.Timeout.Duration >= c.Interval.Duration {
			bad("[[http_service.checks]] #%d: timeout must be shorter than interval", i+1)
		}
	}
	switch {
	case cfg.Deploy == nil || cfg.Deploy.Strategy == "":
		bad("[deploy] strategy must be \"bluegreen\": a failed release is destroyed and the old one keeps serving")
	case !slices.Contains(deployStrategies, cfg.Deploy.Strategy):
		bad("[deploy] strategy %q: flyctl knows %s", cfg.Deploy.Strategy, strings.Join(deployStrategies, ", "))
	case cfg.Deploy.Strategy != "bluegreen":
		bad("[deploy] strategy %q: use \"bluegreen\" (a failed rolling deploy leaves the new image on a machine; bluegreen destroys it)", cfg.Deploy.Strategy)
	case len(s.Checks) == 0:
		bad("[deploy] strategy bluegreen needs at least one [[http_service.checks]]")
	}
	if len(cfg.VM) != 1 {
		bad("want exactly one [[vm]] entry, found %d", len(cfg.VM))
	}
	for _, vm := range cfg.VM {
		problems = append(problems, checkVM(vm)...)
	}
	return problems
}

// sharedCPUs are fly-go's shared-cpu presets (MachinePresets) and their
// CPU counts; fly-go allows 256 to 2048 MB of memory per shared CPU.
var sharedCPUs = map[string]int{"shared-cpu-1x": 1, "shared-cpu-2x": 2, "shared-cpu-4x": 4, "shared-cpu-6x": 6, "shared-cpu-8x": 8}

func checkVM(vm flyCompute) (problems []string) {
	cpus, ok := sharedCPUs[vm.Size]
	if !ok {
		return []string{fmt.Sprintf("[[vm]] size %q: use a shared-cpu preset (%s); this service needs no dedicated CPU", vm.Size, strings.Join(slices.Sorted(maps.Keys(sharedCPUs)), ", "))}
	}
	if vm.Memory == "" {
		return nil // the preset's 256 MB per CPU
	}
	// flyctl reads memory with go-units' RAMInBytes; a bare number is MB.
	memory := vm.Memory
	if _, err := strconv.Atoi(memory); err == nil {
		memory += "mb"
	}
	bytes, err := units.RAMInBytes(memory)
	if err != nil {
		return []string{fmt.Sprintf("[[vm]] memory %q: %v", vm.Memory, err)}
	}
	if mb := bytes / units.MiB; mb < int64(256*cpus) || mb > int64(2048*cpus) {
		problems = append(problems, fmt.Sprintf("[[vm]] memory %q: %s allows %d to %d MB", vm.Memory, vm.Size, 256*cpus, 2048*cpus))
	}
	return problems
}
