package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// flyctlEnv lets flyctl run offline: `flyctl config validate` requires a
// session (command.RequireSession), which any token from the environment
// satisfies without a login timestamp or a network call, and validates
// locally (superfly/flyctl internal/command/config/validate.go at v0.4.87).
// The dummy token also keeps a real one out of the check.
var flyctlEnv = []string{"FLY_ACCESS_TOKEN=offline-validation-only", "FLY_NO_UPDATE_CHECK=1"}

// findFlyctl returns the flyctl on PATH if it runs here (`flyctl version`
// succeeds), else "".
func findFlyctl() string {
	flyctl, err := exec.LookPath("flyctl")
	if err != nil {
		return ""
	}
	cmd := exec.Command(flyctl, "version")
	cmd.Env = append(os.Environ(), flyctlEnv...)
	if cmd.Run() != nil {
		return ""
	}
	return flyctl
}

// validateFlyToml checks the keys of the fly.toml at path with `flyctl
// config validate --strict` where flyctl runs, else with the mirror in
// flyconfig.go, and returns its values and which validator was used. A
// flyctl failure is the answer; there is no fall-back to the mirror.
func validateFlyToml(path string) (cfg *flyConfig, validator string, err error) {
	strict, validator := true, "the flyctl schema mirror in scripts/checks/image/flyconfig.go (flyctl is not on PATH)"
	if flyctl := findFlyctl(); flyctl != "" {
		strict, validator = false, flyctl+" config validate --strict"
		cmd := exec.Command(flyctl, "config", "validate", "--strict", "--config", path)
		cmd.Dir = filepath.Dir(path)
		cmd.Env = append(os.Environ(), flyctlEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, validator, fmt.Errorf("%s rejects %s (%w):\n%s\nfix what it names; the keys are documented at https://fly.io/docs/reference/configuration/", validator, path, err, strings.TrimSpace(string(out)))
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, validator, err
	}
	defer f.Close()
	cfg, err = decodeFlyConfig(f, strict)
	return cfg, validator, err
}
