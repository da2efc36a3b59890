package flake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// The nixpkgs lock entry written by real Nix for nixos-26.05 (see
// shared/reference/nixpkgs.md); flake.lock must hold exactly this.
var wantNixpkgsLocked = LockedRef{
	LastModified: 1787204541,
	NarHash:      "sha256-OURZPknrTjQrlNyxPdqzyqmU/81Wes1CUP/Ft1Rv/YI=",
	Owner:        "NixOS",
	Repo:         "nixpkgs",
	Rev:          "5880666fd9eb563038431edb35c2d0aa595884e6",
	Type:         "github",
}

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
	if nixpkgs.Locked == nil || *nixpkgs.Locked != wantNixpkgsLocked {
		t.Errorf("nixpkgs locked = %+v, want %+v", nixpkgs.Locked, wantNixpkgsLocked)
	}
	if len(nixpkgs.Inputs) != 0 {
		t.Errorf("nixpkgs node has inputs %v", nixpkgs.Inputs)
	}
}

// The lock's "original" must match the input URL exactly, or Nix re-locks
// (which needs the network).
func TestFlakeLockOriginalMatchesTheInputURL(t *testing.T) {
	root := testkit.RepoRoot(t)
	lock, err := ReadLock(root)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "flake.nix"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*inputs\.nixpkgs\.url = "([^"]+)";`).FindSubmatch(src)
	if m == nil {
		t.Fatal(`flake.nix has no line inputs.nixpkgs.url = "...";`)
	}
	url := string(m[1])
	if url != "github:NixOS/nixpkgs/nixos-26.05" {
		t.Errorf("nixpkgs input = %q, want github:NixOS/nixpkgs/nixos-26.05", url)
	}
	want, err := ParseGitHubURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if got := lock.Nodes["nixpkgs"].Original; got == nil || *got != want {
		t.Errorf("nixpkgs original = %+v, want %+v (from %s)", got, want, url)
	}
}

func TestFlakeInputsAsNixSeesThem(t *testing.T) {
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
	want := map[string]map[string]string{"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-26.05"}}
	if !reflect.DeepEqual(inputs, want) {
		t.Errorf("inputs = %v, want %v (nixpkgs only: no flake-utils, no devenv)", inputs, want)
	}
}

func TestParseGitHubURL(t *testing.T) {
	got, err := ParseGitHubURL("github:NixOS/nixpkgs/nixos-26.05")
	if err != nil {
		t.Fatal(err)
	}
	if got != (OriginalRef{Owner: "NixOS", Repo: "nixpkgs", Ref: "nixos-26.05", Type: "github"}) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"github:NixOS", "https://github.com/NixOS/nixpkgs", "github:/nixpkgs"} {
		if _, err := ParseGitHubURL(bad); err == nil {
			t.Errorf("ParseGitHubURL(%q) succeeded", bad)
		}
	}
}
