// Command rename makes the template yours: it gives the Fly app, its region,
// the Go module and the binary new names in every file that names them.
// scripts/rename runs it, then refreshes vendorHash.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"golang.org/x/mod/module"

	"scripts/internal/repo"
)

const usage = `usage: scripts/rename --app NAME --module PATH [--region REGION] [--binary NAME]

Renames the Fly app (fly.toml), the Go module (go.mod and the imports; the
tooling module scripts/go.mod keeps its own path), the binary (flake.nix's
package and description, the Dockerfile's CMD, .gitignore, the service's
usage name and doc comment) and optionally the primary region. Every name is
checked before any file changes; a bad one changes nothing.
  --app NAME       Fly app name: lowercase letters, digits and dashes
  --module PATH    Go module path, e.g. github.com/acme/api
  --region REGION  Fly region code, e.g. fra (default: keep fly.toml's)
  --binary NAME    the binary's name; go install names it after the module
                   path, so it can only confirm that name (default: that name)
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "scripts/rename:", line)
		}
		os.Exit(2)
	}
}

// names are the new names; an empty Region keeps fly.toml's.
type names struct{ App, Module, Region, Binary string }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rename", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	var n names
	fs.StringVar(&n.App, "app", "", "Fly app name")
	fs.StringVar(&n.Module, "module", "", "Go module path")
	fs.StringVar(&n.Region, "region", "", "Fly region")
	fs.StringVar(&n.Binary, "binary", "", "binary name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := n.validate(); err != nil {
		return err
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	changed, err := rename(root, n)
	if err != nil {
		return err
	}
	for _, file := range changed {
		fmt.Fprintln(stdout, "changed", file)
	}
	return nil
}

// Fly app names: flyctl's validateAppName (superfly/flyctl
// internal/command/launch/plan_builder.go at v0.4.87) allows lowercase
// letters, digits and dashes; the name is also the DNS label <app>.fly.dev.
var (
	appName    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	regionCode = regexp.MustCompile(`^[a-z]{3}$`)
)

func (n *names) validate() error {
	var errs []error
	switch {
	case n.App == "":
		errs = append(errs, errors.New("--app NAME is required: the name of your Fly app (flyctl apps create NAME makes it)"))
	case !appName.MatchString(n.App):
		errs = append(errs, fmt.Errorf("--app %q: a Fly app name is 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash (it becomes NAME.fly.dev)", n.App))
	}
	if n.Region != "" && !regionCode.MatchString(n.Region) {
		errs = append(errs, fmt.Errorf("--region %q: a Fly region is a three-letter code such as ams or fra (flyctl platform regions lists them)", n.Region))
	}
	if n.Module == "" {
		errs = append(errs, errors.New("--module PATH is required: your Go module path, such as github.com/acme/api"))
	} else if err := module.CheckPath(n.Module); err != nil {
		errs = append(errs, fmt.Errorf("--module: %w (want a path such as github.com/acme/api)", err))
	} else if binary := execName(n.Module); n.Binary == "" {
		n.Binary = binary
	} else if n.Binary != binary {
		errs = append(errs, fmt.Errorf("--binary %q: go install names the binary %q after the module path %s; choose a module path ending in /%s, or leave --binary out", n.Binary, binary, n.Module, n.Binary))
	}
	return errors.Join(errs...)
}
