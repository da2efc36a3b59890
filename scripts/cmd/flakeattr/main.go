// Command flakeattr prints what flake.nix's package is built with, so
// scripts/test vets, tests and lints the service the way the flake builds it
// without a second copy of the build recipe:
//
//	flakeattr tags   the package's build tags, comma-separated (go -tags)
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"scripts/internal/flake"
	"scripts/internal/repo"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flakeattr:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "tags" {
		return errors.New("usage: flakeattr tags")
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	pkg, err := flake.PackageAttrs(root, "")
	if err != nil {
		return fmt.Errorf("evaluating flake.nix in %s: %w", root, err)
	}
	_, err = fmt.Fprintln(stdout, strings.Join(pkg.Tags, ","))
	return err
}
