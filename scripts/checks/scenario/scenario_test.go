package scenario

import (
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"scripts/internal/testkit"
)

// Each routine edit a user makes keeps every check green.
func TestRoutineEditsPass(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	scenarios := []scenario{
		{name: "name the app like its binary", edit: appNamedLikeBinary},
		{name: "rename app module binary and region with scripts rename", edit: func(t *testing.T, dir string) {
			run(t, dir, []string{"SCRIPTS_REPO_ROOT=" + dir}, filepath.Join(dir, "scripts", "rename"),
				"--app", "acme-api", "--module", "github.com/acme/api", "--region", "fra")
			if got := path.Base(imageProgram(t, dir)); got != "api" {
				t.Fatalf("after scripts/rename the image runs %q, want api", got)
			}
		}},
		{name: "change the port everywhere it appears", edit: changePort},
		// One copy for the fly.toml-only edits: each key is judged on its own.
		{name: "rename the app and the region, change the VM size strategy and timeouts", edit: func(t *testing.T, dir string) {
			setFlyKey(t, dir, "app", `"acme-api"`)
			setFlyKey(t, dir, "primary_region", `"fra"`)
			setFlyKey(t, dir, "size", `"shared-cpu-2x"`)
			setFlyKey(t, dir, "memory", `"1gb"`)
			setFlyKey(t, dir, "strategy", `"rolling"`)
			setFlyKey(t, dir, "kill_timeout", `"30s"`)
			setFlyKey(t, dir, "wait_timeout", `"10m"`)
			setFlyKey(t, dir, "interval", `"30s"`)
			setFlyKey(t, dir, "timeout", `"5s"`)
			setFlyKey(t, dir, "grace_period", `"20s"`)
		}},
		// Two Dependabot pull requests' edits on one copy, as a grouped update.
		{name: "Dependabot bumps an action and the Nix image", edit: func(t *testing.T, dir string) {
			bumpAction(t, dir)
			bumpNixImage(t, dir)
		}},
		// Also Dependabot's nixpkgs bump: a new rev, narHash and lastModified.
		{name: "move to the next NixOS release", edit: nextNixosRelease},
		{name: "add a package to the dev shell", edit: addDevShellPackage},
		{name: "add an endpoint and a dependency then refresh vendorHash", edit: func(t *testing.T, dir string) {
			addEndpointWithDependency(t, dir)
			commit(t, dir, "uuid endpoint") // vendorhash, like Nix, reads git-tracked files only
			run(t, dir, []string{"SCRIPTS_REPO_ROOT=" + dir}, filepath.Join(dir, "scripts", "vendorhash"), "--write")
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, s.run)
	}
}

// Each real mistake fails a check whose message names the fix.
func TestMistakesFailNamingTheFix(t *testing.T) {
	testkit.FullTier(t)
	t.Parallel()
	scenarios := []scenario{
		{name: "the port changed in fly.toml only", mistake: func(t *testing.T, dir string) []string {
			setFlyKey(t, dir, "internal_port", strconv.FormatInt(internalPort(t, dir)+1, 10))
			return []string{`make all three the same`}
		}},
		{name: "an action pinned to a tag", mistake: func(t *testing.T, dir string) []string {
			unpinAction(t, dir)
			return []string{`(?i)40-hex|full (commit )?SHA`}
		}},
		{name: "a misspelt fly.toml key", mistake: func(t *testing.T, dir string) []string {
			typo := misspellFlyKey(t, dir)
			return []string{regexp.QuoteMeta(typo), regexp.QuoteMeta("https://fly.io/docs/reference/configuration/")}
		}},
		{name: "a dependency added without refreshing vendorHash", mistake: func(t *testing.T, dir string) []string {
			addEndpointWithDependency(t, dir)
			return []string{regexp.QuoteMeta("scripts/vendorhash --write")}
		}},
		{name: "an image CMD the package does not install", mistake: func(t *testing.T, dir string) []string {
			program := imageProgram(t, dir)
			edit(t, dir, "Dockerfile", regexp.QuoteMeta(`"`+program+`"`), `"`+path.Dir(program)+`/server"`)
			return []string{`make all three one name`}
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, s.run)
	}
}
