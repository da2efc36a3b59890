package flake

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

var nixFlakes = []string{"--extra-experimental-features", "nix-command flakes"}

var realNix struct {
	once   sync.Once
	reason string
}

// RealNix reports whether the nix on PATH can evaluate the flake in root:
// it runs flakes and can fetch the nixpkgs that flake.lock pins (Debian's
// Nix 2.8 without network cannot). When it cannot, the reason says why and
// the stub nixpkgs stands in. The answer is decided once per process.
func RealNix(root string) (ok bool, reason string) {
	realNix.once.Do(func() { realNix.reason = realNixMissing(root) })
	return realNix.reason == "", realNix.reason
}

func realNixMissing(root string) string {
	if _, err := exec.LookPath("nix"); err != nil {
		return "nix is not on PATH"
	}
	lock, err := ReadLock(root)
	if err != nil {
		return err.Error()
	}
	locked := lock.Nodes["nixpkgs"].Locked
	if locked == nil || locked.Type != "github" {
		return "flake.lock has no locked github nixpkgs to fetch"
	}
	ref := fmt.Sprintf("github:%s/%s/%s?narHash=%s", locked.Owner, locked.Repo, locked.Rev, locked.NarHash)
	if _, err := Nix("flake", "prefetch", "--json", "--option", "download-attempts", "2", ref); err != nil {
		return fmt.Sprintf("nix cannot fetch the locked nixpkgs: %v", err)
	}
	return ""
}

// Nix runs real nix with flakes enabled and returns its stdout; the error
// carries stderr (Nix's message).
func Nix(args ...string) ([]byte, error) {
	cmd := exec.Command("nix", append(append([]string{}, nixFlakes...), args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nix %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// NixEval applies fn, a Nix function of a flake (as builtins.getFlake
// returns it), to the flake at ref and returns the result as JSON.
func NixEval(ref, fn string) ([]byte, error) {
	return Nix("eval", "--json", "--impure", "--expr", fmt.Sprintf("(%s) (builtins.getFlake %q)", fn, ref))
}

// realPackage is the summary of packages.x86_64-linux.default that
// PackageAttrs returns, from real nixpkgs.
const realPackage = `flake:
let
  p = flake.packages.x86_64-linux.default;
  files =
    dir: prefix:
    builtins.concatLists (
      builtins.attrValues (
        builtins.mapAttrs (
          name: type:
          if type == "directory" then files "${dir}/${name}" "${prefix}${name}/" else [ "${prefix}${name}" ]
        ) (builtins.readDir dir)
      )
    );
in
{
  inherit (p) name pname version vendorHash modRoot proxyVendor allowGoReference subPackages tags doCheck;
  # buildGoModule appends -buildid= to the ldflags written in flake.nix.
  ldflags = builtins.filter (f: f != "-buildid=") p.ldflags;
  env = p.env or { };
  meta = { inherit (p.meta) description mainProgram; };
  go = p.go.name;
  stdenv = p.stdenv.name or "";
  goModules = { inherit (p.goModules) name; out = p.goModules.outPath; nativeBuildInputs = [ ]; };
  goSum = toString p.goSum;
  src = files "${p.src}" "";
  out = p.outPath;
}`

func realPackageAttrs(ref string) (*Package, error) {
	out, err := NixEval(ref, realPackage)
	if err != nil {
		return nil, err
	}
	var pkg Package
	if err := json.Unmarshal(out, &pkg); err != nil {
		return nil, fmt.Errorf("reading packages.x86_64-linux.default: %w", err)
	}
	return &pkg, nil
}
