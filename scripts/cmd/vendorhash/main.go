// Command vendorhash computes buildGoModule's vendorHash without Nix and
// keeps flake.nix in step with it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flakeship/flakeship/scripts/internal/flake"
	"github.com/flakeship/flakeship/scripts/internal/repo"
)

const usage = `usage: scripts/vendorhash [DIR]
       scripts/vendorhash --check [FLAKE_DIR]
       scripts/vendorhash --write [FLAKE_DIR]

Computes buildGoModule's vendorHash (the NAR sha256 of what "go mod vendor"
writes) without Nix, on a temporary copy of the module: your vendor/, go.mod
and go.sum are never touched. Runs go mod vendor with GOFLAGS=-mod=mod,
GOTOOLCHAIN=local and GOWORK=off, using your module cache and GOPROXY.

  (no flag)  print the vendorHash of the Go module in DIR (default: the
             repository root) as the only line on stdout; "null" when the
             module has nothing to vendor (buildGoModule then needs
             vendorHash = null).
  --check    for every buildGoModule in FLAKE_DIR/flake.nix (each
             vendorHash with its modRoot, default "."), compute the hash
             and compare. Stale: prints the right value and the fix.
  --write    like --check, but update the stale vendorHash strings in
             flake.nix in place (nothing else in the file changes).

vendorHash must be written as a string literal or null in the attribute set
passed to buildGoModule (modRoot and proxyVendor, if set, as literals in the
same set). The expected value is null only for a module with nothing to
vendor; a committed vendor/ directory (vendorHash = null with dependencies)
is not supported.

Exit status:
  0  printed the hash; --check: every vendorHash is current; --write: done
  1  --check: a vendorHash is stale (run scripts/vendorhash --write)
  2  usage error, or the hash cannot be computed: go mod vendor failed (module
     not tidy: run go mod tidy; a module could not be downloaded), flake.nix
     has no vendorHash or uses proxyVendor = true (not supported: that hash
     covers the module download cache, not vendor/)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vendorhash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	check := fs.Bool("check", false, "compare flake.nix with the computed hashes")
	write := fs.Bool("write", false, "update flake.nix with the computed hashes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 || (*check && *write) {
		fs.Usage()
		return 2
	}
	dir, err := targetDir(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "vendorhash:", err)
		return 2
	}
	if !*check && !*write {
		hash, err := moduleHash(dir, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "vendorhash:", err)
			return 2
		}
		if hash == noDependencies {
			fmt.Fprintf(stderr, "vendorhash: the module in %s has nothing to vendor; buildGoModule needs vendorHash = null\n", dir)
		}
		fmt.Fprintln(stdout, hash)
		return 0
	}
	return syncFlake(dir, *write, stdout, stderr)
}

// moduleHash is vendorHash with a warning for each Go file it left out
// because git does not track it.
func moduleHash(dir string, stderr io.Writer) (string, error) {
	hash, untracked, err := vendorHashOf(dir)
	for _, f := range untracked {
		fmt.Fprintf(stderr, "vendorhash: warning: %s is not tracked by git, so Nix will not see it and it does not count; `git add` it if it belongs to the module\n", filepath.Join(dir, f))
	}
	return hash, err
}

func targetDir(arg string) (string, error) {
	if arg == "" {
		return repo.Root()
	}
	return filepath.Abs(arg)
}

// syncFlake compares (and with write, updates) every vendorHash in
// flakeDir/flake.nix.
func syncFlake(flakeDir string, write bool, stdout, stderr io.Writer) int {
	flakePath := filepath.Join(flakeDir, "flake.nix")
	src, err := os.ReadFile(flakePath)
	if err != nil {
		fmt.Fprintln(stderr, "vendorhash:", err)
		return 2
	}
	mods, err := flake.GoModules(src)
	if err != nil {
		fmt.Fprintln(stderr, "vendorhash:", err)
		return 2
	}
	if len(mods) == 0 {
		fmt.Fprintf(stderr, "vendorhash: %s has no `vendorHash = ...;` binding (no buildGoModule to check)\n", flakePath)
		return 2
	}
	for _, m := range mods {
		if m.ProxyVendor {
			fmt.Fprintf(stderr, "vendorhash: flake.nix:%d: the module at modRoot %q uses proxyVendor = true; its vendorHash covers the Go module download cache, which this tool does not compute. Use proxyVendor = false (the default) or take the hash from a Nix build.\n", m.Line, m.ModRoot)
			return 2
		}
	}
	values := make([]string, len(mods))
	stale := 0
	for i, m := range mods {
		want, err := moduleHash(filepath.Join(flakeDir, filepath.FromSlash(m.Dir)), stderr)
		if err != nil {
			fmt.Fprintln(stderr, "vendorhash:", err)
			return 2
		}
		values[i] = want
		if want == m.Value() {
			fmt.Fprintf(stdout, "ok     %s (modRoot %s): vendorHash = %s\n", flakePath, m.Dir, want)
			continue
		}
		stale++
		verb := "stale "
		if write {
			verb = "update"
		}
		fmt.Fprintf(stdout, "%s %s:%d (modRoot %s): vendorHash is %s, should be %s\n", verb, flakePath, m.Line, m.Dir, m.Value(), want)
	}
	if stale == 0 {
		return 0
	}
	if !write {
		fmt.Fprintf(stderr, "vendorhash: %d vendorHash value(s) in %s are stale; fix with: scripts/vendorhash --write\n", stale, flakePath)
		return 1
	}
	updated, err := flake.WithVendorHashes(src, mods, values)
	if err != nil {
		fmt.Fprintln(stderr, "vendorhash:", err)
		return 2
	}
	if err := writeInPlace(flakePath, updated); err != nil {
		fmt.Fprintln(stderr, "vendorhash:", err)
		return 2
	}
	return 0
}

// writeInPlace replaces path's content, keeping its permissions.
func writeInPlace(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flake.nix-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
