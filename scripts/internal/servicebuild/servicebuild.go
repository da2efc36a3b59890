// Package servicebuild builds the service binary the way flake.nix's
// packages.default does. The recipe (tags, ldflags, environment, main
// package, binary name) is read from flake.nix itself (flake.PackageAttrs),
// so tests and the benchmark run the program that ships in the image.
package servicebuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"scripts/internal/flake"
)

// Recipe is how flake.nix builds the service, as go build arguments.
type Recipe struct {
	Dir   string   // the service module's directory (modRoot)
	Main  string   // the main package, relative to Dir
	Name  string   // the binary's name (meta.mainProgram, else pname)
	Tags  []string // build tags
	Flags []string // go build flags: -trimpath, -tags, -ldflags
	Env   []string // environment on top of the caller's (CGO_ENABLED=0, ...)
}

// Load evaluates flake.nix in root for revision rev (self.shortRev, which
// the flake links into the binary as its version) and returns its recipe.
func Load(root, rev string) (Recipe, error) {
	p, err := flake.PackageAttrs(root, rev)
	if err != nil {
		return Recipe{}, fmt.Errorf("reading the service's build from flake.nix: %w", err)
	}
	return recipeOf(root, p)
}

func recipeOf(root string, p *flake.Package) (Recipe, error) {
	main := "."
	switch len(p.SubPackages) {
	case 0:
	case 1:
		if sub := path.Clean(p.SubPackages[0]); sub != "." {
			main = "./" + sub
		}
	default:
		return Recipe{}, fmt.Errorf("flake.nix's packages.default builds %d subPackages %v; servicebuild builds one: list only the service's main package", len(p.SubPackages), p.SubPackages)
	}
	name := p.Meta.MainProgram
	if name == "" {
		name = p.Pname
	}
	if name == "" {
		return Recipe{}, errors.New("flake.nix's packages.default has neither meta.mainProgram nor pname: set meta.mainProgram to the binary's name")
	}
	// buildGoModule (nixpkgs pkgs/build-support/go/module.nix) adds
	// -trimpath unless allowGoReference, and -buildid= unless ldflags set one.
	ldflags := p.LDFlags
	if !slices.ContainsFunc(ldflags, func(f string) bool { return strings.HasPrefix(f, "-buildid=") }) {
		ldflags = append(slices.Clone(ldflags), "-buildid=")
	}
	flags := []string{"-buildvcs=false", "-tags=" + strings.Join(p.Tags, ","), "-ldflags=" + strings.Join(ldflags, " ")}
	if !p.AllowGoReference {
		flags = append(flags, "-trimpath")
	}
	// Nix builds offline from vendored modules; here the module cache serves.
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod"}
	for k, v := range p.Env {
		env = append(env, k+"="+nixEnvString(v))
	}
	slices.Sort(env)
	return Recipe{Dir: filepath.Join(root, p.ModRoot), Main: main, Name: name, Tags: p.Tags, Flags: flags, Env: env}, nil
}

// Command is go build of pkg in dir into out with the recipe's flags and
// environment: the service itself, or another program built alike.
func (r Recipe) Command(dir, pkg, out string) *exec.Cmd {
	args := append(append([]string{"build"}, r.Flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), r.Env...)
	return cmd
}

// Build builds the service in root at revision rev into outDir and returns
// the binary's path.
func Build(root, outDir, rev string) (string, error) {
	r, err := Load(root, rev)
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, r.Name)
	if b, err := r.Command(r.Dir, r.Main, out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the service in %s: %w\n%s", r.Dir, err, b)
	}
	return out, nil
}

// nixEnvString is how a derivation's environment spells a value: true is
// "1", false "", numbers and strings as written.
func nixEnvString(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "1"
		}
		return ""
	default:
		return fmt.Sprint(v)
	}
}
