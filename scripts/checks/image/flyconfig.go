package image

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	units "github.com/docker/go-units"
)

// flyConfig is the part of fly.toml the project's rules read.
type flyConfig struct {
	App           string            `toml:"app"`
	PrimaryRegion string            `toml:"primary_region"`
	KillSignal    string            `toml:"kill_signal"`
	KillTimeout   *flyDuration      `toml:"kill_timeout"`
	Env           map[string]string `toml:"env"`
	Build         *struct {
		Image      string `toml:"image"`
		Dockerfile string `toml:"dockerfile"`
	} `toml:"build"`
	Deploy *struct {
		Strategy    string       `toml:"strategy"`
		WaitTimeout *flyDuration `toml:"wait_timeout"`
	} `toml:"deploy"`
	HTTPService *struct {
		InternalPort     int  `toml:"internal_port"`
		ForceHTTPS       bool `toml:"force_https"`
		AutoStopMachines any  `toml:"auto_stop_machines"`
		Concurrency      *struct {
			Type      string `toml:"type"`
			HardLimit int    `toml:"hard_limit"`
			SoftLimit int    `toml:"soft_limit"`
		} `toml:"concurrency"`
		Checks []flyHTTPCheck `toml:"checks"`
	} `toml:"http_service"`
	VM []flyCompute `toml:"vm"`
}

type flyHTTPCheck struct {
	Interval    *flyDuration `toml:"interval"`
	Timeout     *flyDuration `toml:"timeout"`
	GracePeriod *flyDuration `toml:"grace_period"`
	Method      string       `toml:"method"`
	Path        string       `toml:"path"`
}

type flyCompute struct {
	Size   string `toml:"size"`
	Memory string `toml:"memory"`
}

// flyKeys are the keys flyctl knows in each table this project uses (flyctl's
// appconfig.Config, superfly/flyctl internal/appconfig at v0.4.87, types
// from superfly/fly-go v0.9.5, the version flyctl's go.mod requires; [[vm]]
// is appconfig.Compute with fly.MachineGuest inlined). Where flyctl is not on
// PATH they stand in for `flyctl config validate --strict`: a key outside
// them fails the check. A key marked * takes any content, unchecked inside
// (maps, and the parts this project does not use, which flyctl checks where it
// runs); [experimental] is deprecated.
var flyKeys = map[string][]string{
	"": strings.Fields(`app primary_region kill_signal kill_timeout swap_size_mb console_command build deploy http_service vm
		env* processes* mounts* services* checks* files* host_dedication_id* machine_config* container*
		machine_checks* restart* statics* metrics*`),
	"build": strings.Fields(`builder buildpacks image builtin dockerfile ignorefile build-target compression compression_level
		args* settings* compose*`),
	"deploy": strings.Fields(`strategy max_unavailable wait_timeout release_command release_command_timeout seed_command
		release_command_vm*`),
	"http_service": strings.Fields(`internal_port force_https auto_stop_machines auto_start_machines min_machines_running
		processes concurrency checks tls_options* http_options* machine_checks*`),
	"http_service.concurrency": strings.Fields(`type hard_limit soft_limit`),
	"http_service.checks":      strings.Fields(`interval timeout grace_period method path protocol tls_skip_verify tls_server_name headers*`),
	"vm": strings.Fields(`size memory cpu_kind cpus memory_mb max_memory_mb gpus gpu_kind host_dedication_id kernel_args
		processes`),
}

// unknownFlyKey returns the first part of key that flyctl does not know, as
// its index, or -1 when flyctl knows the key.
func unknownFlyKey(key toml.Key) int {
	for i, name := range key {
		known := flyKeys[strings.Join(key[:i], ".")]
		if slices.Contains(known, name+"*") {
			return -1
		}
		if !slices.Contains(known, name) {
			return i
		}
	}
	return -1
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

// decodeFlyConfig reads fly.toml. With strict it stands in for flyctl's
// strict validation and fails on any key the mirror does not know; without,
// flyctl has checked the keys and only the values are read.
func decodeFlyConfig(r io.Reader, strict bool) (*flyConfig, error) {
	var cfg flyConfig
	md, err := toml.NewDecoder(r).Decode(&cfg)
	if err != nil {
		return nil, fmt.Errorf("fly.toml: %w", err)
	}
	if !strict {
		return &cfg, nil
	}
	var errs []error
	for _, key := range md.Keys() {
		// Report only the key whose last part is unknown, not its contents.
		i := unknownFlyKey(key)
		where := ""
		if i > 0 {
			where = " in [" + strings.Join(key[:i], ".") + "]"
		}
		switch {
		case i != len(key)-1:
		case key.String() == "experimental":
			errs = append(errs, fmt.Errorf("fly.toml: [experimental] is deprecated (auto_rollback does nothing on Machines apps); remove it"))
		default:
			errs = append(errs, fmt.Errorf("fly.toml: %q is not a key flyctl knows%s (check its spelling against https://fly.io/docs/reference/configuration/)", key.String(), where))
		}
	}
	return &cfg, errors.Join(errs...)
}

// deployStrategies are appconfig.MachinesDeployStrategies at v0.4.87.
var deployStrategies = []string{"canary", "rolling", "immediate", "bluegreen"}

// checkFlyConfig returns the ways cfg breaks flyctl's validation or the
// project's rules for it.
func checkFlyConfig(cfg *flyConfig) []string {
	var problems problems
	bad := problems.add
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
		bad("[http_service] is missing")
		return problems
	}
	switch v := s.AutoStopMachines; {
	case v == nil:
	case v == true || v == false:
		bad("[http_service] auto_stop_machines = %v is the deprecated boolean form; write \"stop\" or \"off\"", v)
	case !slices.Contains([]any{"off", "stop", "suspend"}, v):
		bad("[http_service] auto_stop_machines = %#v: want \"off\", \"stop\" or \"suspend\"", v)
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
		for name, d := range map[string]*flyDuration{"interval": c.Interval, "timeout": c.Timeout, "grace_period": c.GracePeriod} {
			if d == nil {
				bad("[[http_service.checks]] #%d: set %s explicitly", i+1, name)
			}
		}
		if c.Timeout != nil && c.Interval != nil && c.Timeout.Duration >= c.Interval.Duration {
			bad("[[http_service.checks]] #%d: timeout must be shorter than interval", i+1)
		}
	}
	strategy := "rolling" // flyctl's default
	if cfg.Deploy != nil && cfg.Deploy.Strategy != "" {
		strategy = cfg.Deploy.Strategy
	}
	switch {
	case !slices.Contains(deployStrategies, strategy):
		bad("[deploy] strategy %q: flyctl knows %s", strategy, strings.Join(deployStrategies, ", "))
	case strategy == "bluegreen" && len(s.Checks) == 0:
		bad("[deploy] strategy bluegreen needs at least one [[http_service.checks]]")
	}
	if len(cfg.VM) != 1 {
		bad("want exactly one [[vm]] entry, found %d", len(cfg.VM))
	}
	for _, vm := range cfg.VM {
		checkVM(vm, &problems)
	}
	return problems
}

// cpuKinds are fly-go's MachinePresets (machine_types.go at v0.9.5) by CPU
// kind: the sizes' prefix, their CPU counts and the memory range per CPU in
// MB (MIN_/MAX_MEMORY_MB_PER_SHARED_CPU and _PER_CPU).
var cpuKinds = []struct {
	prefix       string
	cpus         []int64
	minMB, maxMB int64
}{
	{"shared-cpu-", []int64{1, 2, 4, 6, 8}, 256, 2048},
	{"performance-", []int64{1, 2, 4, 6, 8, 10, 12, 14, 16}, 2048, 8192},
}

func checkVM(vm flyCompute, bad *problems) {
	var sizes []string
	var minMB, maxMB int64
	for _, k := range cpuKinds {
		for _, n := range k.cpus {
			if size := fmt.Sprintf("%s%dx", k.prefix, n); size != vm.Size {
				sizes = append(sizes, size)
			} else {
				minMB, maxMB = k.minMB*n, k.maxMB*n
			}
		}
	}
	switch {
	case maxMB == 0:
		bad.add("[[vm]] size %q is not a CPU preset flyctl knows: use one of %s", vm.Size, strings.Join(sizes, ", "))
		return
	case vm.Memory == "":
		return // the preset's own memory
	}
	// flyctl reads memory with go-units' RAMInBytes; a bare number is MB.
	memory := vm.Memory
	if _, err := strconv.Atoi(memory); err == nil {
		memory += "mb"
	}
	bytes, err := units.RAMInBytes(memory)
	if err != nil {
		bad.add("[[vm]] memory %q: %v", vm.Memory, err)
	} else if mb := bytes / units.MiB; mb < minMB || mb > maxMB {
		bad.add("[[vm]] memory %q: %s allows %d to %d MB", vm.Memory, vm.Size, minMB, maxMB)
	}
}
