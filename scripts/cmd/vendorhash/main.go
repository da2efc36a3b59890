// Command vendorhash computes buildGoModule's vendorHash without Nix and
// keeps go.mod.sri, the file flake.nix reads it from, in step with it.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"scripts/internal/repo"
)

const usage = `usage: scripts/vendorhash [--check | --write] [DIR]

Computes buildGoModule's vendorHash (the NAR sha256 of what "go mod vendor"
writes) for the Go module in DIR (default: the repository root), without Nix,
on a temporary copy of the module: your vendor/, go.mod and go.sum are never
touched. In a git work tree only the files git tracks count, as in Nix's
build of a git flake. Runs go mod vendor with GOFLAGS=-mod=mod,
GOTOOLCHAIN=local and GOWORK=off, using your module cache and GOPROXY.

  (no flag)  print the hash as the only line on stdout ("null" when the
             module has nothing to vendor: buildGoModule then needs
             vendorHash = null in flake.nix instead of the file)
  --check    compare it with DIR/go.mod.sri, which flake.nix reads with
             vendorHash = lib.fileContents ./go.mod.sri;
  --write    write it to DIR/go.mod.sri: one line, the SRI hash

The hash is for buildGoModule's default proxyVendor = false; with
proxyVendor = true the vendorHash covers the module download cache instead,
which this tool does not compute.

Exit status:
  0  printed the hash; --check: go.mod.sri is current; --write: done
  1  --check: go.mod.sri is stale (fix: scripts/vendorhash --write)
  2  usage error; go.mod.sri is missing or malformed (--check); or the hash
     cannot be computed: go mod vendor failed (module not tidy: run
     go mod tidy; a module could not be downloaded)
`

// sriFile is where flake.nix reads the vendorHash from.
const sriFile = "go.mod.sri"

var (
	errUsage = errors.New("usage")
	errStale = errors.New("stale")
)

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errStale):
		return 1
	case !errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "vendorhash:", err)
	}
	return 2
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vendorhash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	check := fs.Bool("check", false, "compare "+sriFile+" with the computed hash")
	write := fs.Bool("write", false, "write the computed hash to "+sriFile)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return errUsage
	}
	if fs.NArg() > 1 || (*check && *write) {
		fs.Usage()
		return errUsage
	}
	dir, err := moduleDir(fs.Arg(0))
	if err != nil {
		return err
	}
	hash, untracked, err := vendorHash(dir)
	for _, f := range untracked {
		fmt.Fprintf(stderr, "vendorhash: warning: %s is not tracked by git, so Nix will not see it and it does not count; `git add` it if it belongs to the module\n", filepath.Join(dir, f))
	}
	switch {
	case err != nil:
		return err
	case !*check && !*write:
		if hash == noDependencies {
			fmt.Fprintf(stderr, "vendorhash: the module in %s has nothing to vendor; buildGoModule needs vendorHash = null\n", dir)
		}
		fmt.Fprintln(stdout, hash)
		return nil
	case hash == noDependencies:
		return fmt.Errorf("the module in %s has nothing to vendor, so there is no hash for %s: write vendorHash = null; in flake.nix instead of reading the file", dir, sriFile)
	}
	path := filepath.Join(dir, sriFile)
	current, readErr := readSRI(path)
	if current == hash {
		fmt.Fprintf(stdout, "ok     %s: %s\n", path, hash)
		return nil
	}
	if *write {
		fmt.Fprintf(stdout, "update %s: %s\n", path, hash)
		return os.WriteFile(path, []byte(hash+"\n"), 0o644)
	}
	if readErr != nil {
		return fmt.Errorf("%w; fix: scripts/vendorhash --write", readErr)
	}
	fmt.Fprintf(stdout, "stale  %s: %s, should be %s\n", path, current, hash)
	fmt.Fprintf(stderr, "vendorhash: %s is stale; fix with: scripts/vendorhash --write\n", path)
	return errStale
}

func moduleDir(arg string) (string, error) {
	if arg == "" {
		return repo.Root()
	}
	return filepath.Abs(arg)
}

// readSRI reads the hash in path as lib.fileContents does (one trailing
// newline removed) and checks that it is an SRI sha256.
func readSRI(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s is missing (flake.nix reads vendorHash from it)", path)
	} else if err != nil {
		return "", err
	}
	hash := string(bytes.TrimSuffix(data, []byte("\n")))
	digest, ok := strings.CutPrefix(hash, "sha256-")
	raw, err := base64.StdEncoding.DecodeString(digest)
	if !ok || err != nil || len(raw) != sha256.Size || base64.StdEncoding.EncodeToString(raw) != digest {
		return "", fmt.Errorf("%s is malformed: it must hold one line, an SRI sha256 (sha256-<44 base64 characters>), not %q", path, data)
	}
	return hash, nil
}
