package scenario

import (
	"regexp"
	"testing"

	"scripts/internal/testkit"
)

// A runtime dependency goes through flake.nix only (README, "Adding a
// runtime dependency"): the checks accept a program the service runs and a
// C library through cgo, and the Dockerfile is never touched.
func TestRuntimeDependenciesThroughTheFlakePass(t *testing.T) {
	testkit.FullTier(t)
	scenarios := []scenario{
		{name: "a program the service runs at run time", edit: func(t *testing.T, dir string) {
			edit(t, dir, "flake.nix", `runtimePackagesFor = pkgs: \[ \];`, `runtimePackagesFor = pkgs: [ pkgs.gitMinimal ];`)
		}},
		{name: "a C library through cgo", edit: func(t *testing.T, dir string) {
			edit(t, dir, "flake.nix", `env\.CGO_ENABLED = 0;`, "env.CGO_ENABLED = 1;\n          buildInputs = [ pkgs.sqlite ];")
			edit(t, dir, "flake.nix", `tags = \[ "nomsgpack" \];`, "tags = [\n            \"nomsgpack\"\n            \"libsqlite3\"\n          ];")
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, s.run)
	}
}

// A runtime package that is the Go toolchain would ship it: the closure
// check rejects it and says how to find the reference.
func TestRuntimeDependencyDraggingGoInFails(t *testing.T) {
	testkit.FullTier(t)
	s := scenario{name: "the Go toolchain as a runtime package", mistake: func(t *testing.T, dir string) []string {
		edit(t, dir, "flake.nix", `runtimePackagesFor = pkgs: \[ \];`, `runtimePackagesFor = pkgs: [ pkgs.go_1_26 ];`)
		return []string{`The image would carry go`, regexp.QuoteMeta("nix why-depends .#image-root")}
	}}
	t.Run(s.name, s.run)
}
