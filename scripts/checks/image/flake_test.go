package image

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

// flakePackage is packages.x86_64-linux.default of flake.nix, evaluated
// offline against scripts/internal/flake's stub nixpkgs.
func flakePackage(t *testing.T) *flake.Package {
	t.Helper()
	pkg, err := flake.PackageAttrs(testkit.RepoRoot(t), "")
	flake.Require(t, err)
	return pkg
}

func TestDockerContextHoldsTheFlakeSource(t *testing.T) {
	pkg := flakePackage(t)
	ignore, err := os.Open(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer ignore.Close()
	context, err := dockerContext(testkit.RepoRoot(t), ignore)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Src) == 0 {
		t.Fatal("the flake's package has an empty src")
	}
	for _, f := range pkg.Src {
		if _, ok := context[f]; !ok {
			t.Errorf("%s is in the flake's src but .dockerignore leaves it out of the Docker context; re-include it with a ! line", f)
		}
	}
}

// The Dockerfile runs `nix build .#default` on the Docker build context
// alone (no .git, no scripts/, no .github/): the package must evaluate from
// exactly those files, with the same source as from the repository.
func TestFlakePackageEvaluatesFromTheDockerContext(t *testing.T) {
	pkg := flakePackage(t)
	root := testkit.RepoRoot(t)
	ignore, err := os.Open(repoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer ignore.Close()
	context, err := dockerContext(root, ignore)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for rel := range context {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	packages, err := flake.EvaluatePackages(dir)
	if err != nil {
		t.Fatalf("packages do not evaluate from the Docker build context (what nix build sees on Fly's builder): %v", err)
	}
	inContext, ok := packages["x86_64-linux"]["default"]
	if !ok {
		t.Fatal("no packages.x86_64-linux.default when evaluated from the Docker build context")
	}
	if !slices.Equal(inContext.Src, pkg.Src) {
		t.Errorf("the package's src differs in the Docker context:\n context: %v\n repository: %v", inContext.Src, pkg.Src)
	}
	// What the Dockerfile builds (its roots) evaluates there too.
	roots := 0
	for _, stage := range mustDockerfile(t).stages {
		for _, c := range stage.Commands {
			run, ok := c.(*instructions.RunCommand)
			if !ok {
				continue
			}
			cmds, _ := simpleCommands(run.CmdLine)
			for _, cmd := range cmds {
				if !hasPrefixWords(cmd.words, "nix", "build") || slices.Contains(cmd.words, "--inputs-from") {
					continue // the toolchain layer: TestToolchainLayerRealisesTheBuildsToolchain
				}
				roots++
				if _, err := evalInstallables(t, dir, installables(cmd.words[2:])); err != nil {
					t.Errorf("stage %s builds %v, which does not evaluate from the Docker build context: %v", stage.Name, installables(cmd.words[2:]), err)
				}
			}
		}
	}
	if roots == 0 {
		t.Error("no nix build of the Dockerfile's stages builds a root of the flake")
	}
	if inContext.Version != "dev" {
		t.Errorf("version in the Docker context = %q, want the fallback \"dev\" (no .git there)", inContext.Version)
	}
}

// The Dockerfile's toolchain layer runs on its COPY's files alone (flake.nix
// and flake.lock). Its installables must evaluate there, and realise what the
// package build needs that does not depend on the Go sources: the package's
// Go, stdenv and the vendored modules' build tools (goModules'
// nativeBuildInputs). What it leaves out the next step fetches, so a gap is
// slower, never wrong, but still reported.
func TestToolchainLayerRealisesTheBuildsToolchain(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", "apt-get install -y nix-bin")
	step, problem := findToolchainStep(mustDockerfile(t).stages[0])
	if problem != "" {
		t.Fatal(problem)
	}
	layer := t.TempDir()
	for _, f := range step.Files {
		data, err := os.ReadFile(repoFile(t, f))
		if err != nil {
			t.Fatalf("the toolchain layer copies %s: %v", f, err)
		}
		if err := os.WriteFile(filepath.Join(layer, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	realised, err := evalInstallables(t, layer, step.Installables)
	if err != nil {
		flake.Require(t, flake.Parse(testkit.RepoRoot(t)))
		t.Fatalf("the toolchain layer's installables %v do not evaluate from %v alone, so every deploy skips the layer and fetches the toolchain again: build only attributes that need no Go source, go.mod, go.sum or go.mod.sri: %v", step.Installables, step.Files, err)
	}
	repository := t.TempDir()
	if err := flake.CopyFlakeSource(testkit.RepoRoot(t), repository); err != nil {
		t.Fatal(err)
	}
	needs, err := evalInstallables(t, repository, []string{".#default.go", ".#default.stdenv", ".#default.goModules.nativeBuildInputs"})
	if err != nil {
		t.Fatal(err)
	}
	if len(needs) < 3 {
		t.Fatalf("the package's Go, stdenv and goModules' build tools evaluate to %v: want at least three derivations", needs)
	}
	for _, need := range needs {
		if !slices.Contains(realised, need) {
			t.Errorf("the toolchain layer (%v) does not realise %s (%s), which the package build needs before any Go source: add it as nixpkgs#<attribute> or .#default.<attribute>", step.Installables, need.Name, need.Out)
		}
	}
	// The package itself needs what the layer leaves out: it evaluates only
	// in the next step, after COPY . . (otherwise this evaluation would not
	// model what instantiating a derivation forces).
	if pkg, err := evalInstallables(t, layer, []string{".#default"}); err == nil {
		t.Errorf("the package evaluates from %v alone (%v): the evaluation here does not force its source, so it cannot tell what the toolchain layer needs", step.Files, pkg)
	}
	t.Logf("toolchain layer, from %v: %v realise %v", step.Files, step.Installables, realised)
}

// drvRef is a derivation by name and store path.
type drvRef struct {
	Name string `json:"name"`
	Out  string `json:"out"`
}

// evalInstallables returns the derivations that `nix build --inputs-from .
// <installables>` realises for x86_64-linux (Fly's builders) in the flake at
// dir (an attribute holding a list of derivations gives each): with real Nix
// where flake.RealNix says it can fetch the locked nixpkgs, otherwise with
// the stub nixpkgs. Installables are .#<attr> or <input>#<attr>.
func evalInstallables(t *testing.T, dir string, installables []string) ([]drvRef, error) {
	t.Helper()
	type spec struct {
		Installable string     `json:"installable"`
		Flake       string     `json:"flake"`
		Candidates  [][]string `json:"candidates"`
	}
	var specs []spec
	for _, i := range installables {
		ref, attr, found := strings.Cut(i, "#")
		if !found {
			attr = "default"
		}
		if ref == "." {
			ref = "self"
		} else if strings.ContainsAny(ref, ":/.") {
			t.Fatalf("installable %s: only .#<attr> and <input>#<attr> (an input of the flake, through --inputs-from .) can be evaluated here", i)
		}
		path := strings.Split(attr, ".")
		specs = append(specs, spec{Installable: i, Flake: ref, Candidates: [][]string{
			append([]string{"packages", "x86_64-linux"}, path...),
			append([]string{"legacyPackages", "x86_64-linux"}, path...),
			path,
		}})
	}
	specJSON, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if ok, _ := flake.RealNix(testkit.RepoRoot(t)); ok {
		out, err = flake.NixEval("path:"+dir, fmt.Sprintf(realInstallables, specJSON))
	} else {
		out, err = flake.NixInstantiate("--eval", "--strict", "--json", repoFile(t, "scripts/internal/flake/stub.nix"),
			"--argstr", "flakeDir", dir, "--argstr", "installables", string(specJSON), "-A", "installables")
	}
	if err != nil {
		return nil, err
	}
	var drvs []drvRef
	if err := json.Unmarshal(out, &drvs); err != nil {
		return nil, fmt.Errorf("reading the installables' derivations: %w", err)
	}
	return drvs, nil
}

// realInstallables resolves installables (JSON, as evalInstallables writes
// them) in a flake from builtins.getFlake, as the stub does.
const realInstallables = `flake:
let
  attrAt =
    root: path:
    builtins.foldl' (
      acc: name: if acc != null && builtins.isAttrs acc && acc ? ${name} then acc.${name} else null
    ) root path;
  resolve =
    i:
    let
      root = if i.flake == "self" then flake else flake.inputs.${i.flake};
      found = builtins.filter (v: v != null) (map (attrAt root) i.candidates);
    in
    if found == [ ] then throw "installable ${i.installable}: no such attribute" else builtins.head found;
  ref = d: {
    inherit (d) name;
    out = d.outPath;
  };
in
builtins.concatMap (
  i:
  let
    v = resolve i;
  in
  if builtins.isList v then map ref v else [ (ref v) ]
) (builtins.fromJSON %q)`
