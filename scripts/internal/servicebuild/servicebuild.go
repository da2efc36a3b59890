// Package servicebuild builds the service binary the way flake.nix does, so
// tests and benchmarks run the same program that ships in the image.
package servicebuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The flags below mirror packages.default in flake.nix; a test in the
// scripts module fails if the two drift apart.
var (
	// Tags are the build tags; nomsgpack drops gin's msgpack codec
	// (github.com/ugorji/go/codec), which nearly halves the binary.
	Tags = []string{"nomsgpack"}
	// LDFlags strips symbols and DWARF; Build appends -X main.version.
	LDFlags = []string{"-s", "-w"}
	// VersionVar is the variable the version is linked into.
	VersionVar = "main.version"
)

// Build compiles the service in repoRoot into dir/name with CGO_ENABLED=0,
// -trimpath, the tags and ldflags above and the given version, and returns
// the binary's path. Like the Nix build it stamps no VCS information (which
// also keeps it working in a checkout owned by another user).
func Build(repoRoot, dir, name, version string) (string, error) {
	out := filepath.Join(dir, name)
	ldflags := strings.Join(append(append([]string{}, LDFlags...), "-X", VersionVar+"="+version), " ")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-tags", strings.Join(Tags, ","),
		"-ldflags", ldflags,
		"-o", out, ".")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the service in %s: %w\n%s", repoRoot, err, b)
	}
	return out, nil
}
