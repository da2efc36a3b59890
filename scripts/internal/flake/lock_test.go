package flake

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

func TestFlakeLockHoldsOnlyTheNixpkgsEntry(t *testing.T) {
	lock, err := ReadLock(testkit.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if lock.Version != 7 || lock.Root != "root" {
		t.Errorf("version %d, root %q; want 7 and \"root\"", lock.Version, lock.Root)
	}
	if len(lock.Nodes) != 2 {
		t.Errorf("flake.lock has %d nodes, want root and nixpkgs only: %v", len(lock.Nodes), lock.Nodes)
	}
	root := lock.Nodes["root"]
	if !reflect.DeepEqual(root.Inputs, map[string]string{"nixpkgs": "nixpkgs"}) || root.Locked != nil {
		t.Errorf("root node = %+v, want inputs {nixpkgs: nixpkgs} only", root)
	}
	nixpkgs := lock.Nodes["nixpkgs"]
	if l := nixpkgs.Locked; l == nil || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(l.Rev) ||
		!regexp.MustCompile(`^sha256-[A-Za-z0-9+/]{43}=$`).MatchString(l.NarHash) || l.LastModified <= 0 || l.Type != "github" {
		t.Errorf("nixpkgs locked = %+v; want a github rev, narHash and lastModified as `nix flake update` writes them", l)
	}
	if len(nixpkgs.Inputs) != 0 {
		t.Errorf("nixpkgs node has inputs %v", nixpkgs.Inputs)
	}
}

// The lock's "original" must match the input URL exactly, or Nix re-locks
// (which needs the network).
func TestFlakeLockOriginalMatchesTheInputURL(t *testing.T) {
	root := testkit.RepoRoot(t)
	Require(t, Parse(root))
	lock, err := ReadLock(root)
	if err != nil {
		t.Fatal(err)
	}
	url := flakeInputs(t)["nixpkgs"]["url"]
	want, err := parseGitHubURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if got := lock.Nodes["nixpkgs"].Original; got == nil || *got != want {
		t.Errorf("nixpkgs original = %+v, want %+v (from %s)", got, want, url)
	}
}

func TestFlakeInputsAsNixSeesThem(t *testing.T) {
	Require(t, Parse(testkit.RepoRoot(t)))
	inputs := flakeInputs(t)
	if len(inputs) != 1 || inputs["nixpkgs"]["url"] == "" {
		t.Errorf("inputs = %v, want nixpkgs only (no flake-utils, no devenv)", inputs)
	}
	if _, err := parseGitHubURL(inputs["nixpkgs"]["url"]); err != nil {
		t.Errorf("the nixpkgs input: %v", err)
	}
}

// flakeInputs is flake.nix's inputs as Nix reads them.
func flakeInputs(t *testing.T) map[string]map[string]string {
	t.Helper()
	testkit.RequireTool(t, "nix-instantiate", installNix)
	out, err := NixInstantiate("--eval", "--strict", "--json", "--expr",
		"(import "+filepath.Join(testkit.RepoRoot(t), "flake.nix")+").inputs")
	if err != nil {
		t.Fatal(err)
	}
	var inputs map[string]map[string]string
	if err := json.Unmarshal(out, &inputs); err != nil {
		t.Fatal(err)
	}
	return inputs
}

func TestParseGitHubURL(t *testing.T) {
	got, err := parseGitHubURL("github:acme/pkgs/release-1")
	if err != nil {
		t.Fatal(err)
	}
	if got != (OriginalRef{Owner: "acme", Repo: "pkgs", Ref: "release-1", Type: "github"}) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"github:NixOS", "https://github.com/NixOS/nixpkgs", "github:/nixpkgs"} {
		if _, err := parseGitHubURL(bad); err == nil {
			t.Errorf("parseGitHubURL(%q) succeeded", bad)
		}
	}
}

// parseGitHubURL turns "github:owner/repo[/ref]" into the reference Nix
// records as a lock node's "original".
func parseGitHubURL(url string) (OriginalRef, error) {
	rest, ok := strings.CutPrefix(url, "github:")
	if !ok {
		return OriginalRef{}, fmt.Errorf("%q is not a github: flake reference", url)
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return OriginalRef{}, fmt.Errorf("%q: want github:OWNER/REPO[/REF]", url)
	}
	ref := OriginalRef{Owner: parts[0], Repo: parts[1], Type: "github"}
	if len(parts) == 3 {
		ref.Ref = parts[2]
	}
	return ref, nil
}
