package flake

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

const testRev = "0123abc"

// The one test that fails when the repository's flake.nix does not parse;
// the other tests that read the flake skip (Require).
func TestFlakeNixParses(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	if err := Parse(testkit.RepoRoot(t)); err != nil {
		t.Fatalf("%v\nfix the syntax at the line Nix names", err)
	}
}

// flakeCopy copies the flake's source (git-tracked files) to a temporary
// directory.
func flakeCopy(t *testing.T) string {
	t.Helper()
	Require(t, Parse(testkit.RepoRoot(t)))
	dir := filepath.Join(t.TempDir(), "flake")
	if err := CopyFlakeSource(testkit.RepoRoot(t), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withOutputs turns the flake in dir into one whose outputs are the
// original's updated with edit, a Nix expression over `inputs` (self and
// nixpkgs) and `outputs` (the original outputs). The original flake.nix is
// not parsed or searched, so the edit fits any valid flake.nix.
func withOutputs(t *testing.T, dir, edit string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, "flake.nix"), filepath.Join(dir, "original-flake.nix")); err != nil {
		t.Fatal(err)
	}
	wrapper := `let
  original = import ./original-flake.nix;
in
original // {
  outputs = inputs: let outputs = original.outputs inputs; in outputs // (` + edit + `);
}
`
	writeFile(t, filepath.Join(dir, "flake.nix"), wrapper)
}

func TestUndefinedVariableFailsToParse(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	file := filepath.Join(t.TempDir(), "flake.nix")
	writeFile(t, file, "{ outputs = { self, nixpkgs }: { typo = undefinedThing; }; }\n")
	_, err := NixInstantiate("--parse", file)
	if err == nil || !strings.Contains(err.Error(), "undefined variable") {
		t.Fatalf("err = %v, want an undefined variable error", err)
	}
}

// A minimal flake with one buildGoModule package, for the stub's own rules.
func goFlake(pkgArgs string) string {
	return `{
  outputs = { self, nixpkgs }: {
    packages.x86_64-linux.default = nixpkgs.legacyPackages.x86_64-linux.buildGoModule {
      pname = "p";
      version = "1";
      vendorHash = null;
      ` + pkgArgs + `
    };
  };
}
`
}

func TestStubAcceptsPackagesItDoesNotKnow(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t)
	withOutputs(t, dir, `{
    devShells = builtins.mapAttrs (system: shells: shells // {
      default = inputs.nixpkgs.legacyPackages.${system}.mkShell {
        packages = [ inputs.nixpkgs.legacyPackages.${system}.sqlite ]
          ++ (with inputs.nixpkgs.legacyPackages.${system}; [ jq ]);
      };
    }) outputs.devShells;
  }`)
	out, err := Evaluate(dir, testRev)
	if err != nil {
		t.Fatalf("a package added to the dev shell must evaluate: %v", err)
	}
	shell := out.DevShells["x86_64-linux"]["default"]
	for _, want := range []string{"sqlite", "jq"} {
		if !slices.ContainsFunc(shell, func(tool Tool) bool { return tool.Name == want }) {
			t.Errorf("dev shell = %v, want %s in it", shell, want)
		}
	}
}

func TestStubRejectsMissingFilesetPaths(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "flake.nix"), goFlake(`src = nixpkgs.lib.fileset.toSource { root = ./.; fileset = ./no-such-file; };`))
	_, err := EvaluatePackages(dir)
	if err == nil || !strings.Contains(err.Error(), "no-such-file") {
		t.Fatalf("err = %v, want an error naming the missing path", err)
	}
}

func TestStubRejectsTopLevelCGOEnabled(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "flake.nix"), goFlake(`CGO_ENABLED = 0;`))
	_, err := EvaluatePackages(dir)
	if err == nil || !strings.Contains(err.Error(), "env.CGO_ENABLED") {
		t.Fatalf("err = %v, want the error nixpkgs gives for a top-level CGO_ENABLED", err)
	}
}

// Every per-system output covers the same systems as packages.
func TestEverySystemHasEveryOutput(t *testing.T) {
	out := evaluate(t, testRev)
	for _, want := range []string{"apps", "checks", "devShells", "formatter", "packages", "templates"} {
		if !slices.Contains(out.OutputNames, want) {
			t.Errorf("flake.nix has no %s output: %v", want, out.OutputNames)
		}
	}
	systems := keys(out.Packages)
	if len(systems) == 0 {
		t.Fatal("flake.nix builds packages for no system")
	}
	for name, got := range map[string][]string{
		"apps":      keys(out.Apps),
		"devShells": keys(out.DevShells),
		"formatter": keys(out.Formatter),
		"checks":    keys(out.Checks),
	} {
		if !reflect.DeepEqual(got, systems) {
			t.Errorf("%s systems = %v, want those of packages, %v", name, got, systems)
		}
	}
	for _, system := range systems {
		if _, ok := out.Packages[system]["default"]; !ok {
			t.Errorf("packages.%s has no default: %v", system, keys(out.Packages[system]))
		}
	}
}

// Nix >= 2.25 runs the formatter with no arguments (NixOS/nix#11438): bare
// nixfmt would then read stdin. treefmt (nixpkgs' nixfmt-tree) formats the tree.
func TestFormatterFormatsTheTree(t *testing.T) {
	for system, f := range evaluate(t, testRev).Formatter {
		if f.MainProgram != "treefmt" {
			t.Errorf("formatter.%s runs %q (%s); `nix fmt` passes no file names, so use a tree formatter: nixpkgs.legacyPackages.${system}.nixfmt-tree",
				system, f.MainProgram, f.Name)
		}
	}
}

func TestTemplateIsTheRepository(t *testing.T) {
	tmpl, ok := evaluate(t, testRev).Templates["default"]
	if !ok {
		t.Fatal("flake.nix has no templates.default, so `nix flake init -t github:<owner>/<repo>` fails; add templates.default = { path = ./.; description = ...; }")
	}
	if tmpl.Description == "" {
		t.Error("templates.default has no description (nix flake check requires one)")
	}
	// The stub evaluates a copy of the flake named "flake".
	if filepath.Base(tmpl.Path) != "flake" {
		t.Errorf("templates.default.path = %s, want the flake's own directory ./.", tmpl.Path)
	}
}

func TestPackageArguments(t *testing.T) {
	out := evaluate(t, testRev)
	sri, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "go.mod.sri"))
	if err != nil {
		t.Fatal(err)
	}
	for system, pkgs := range out.Packages {
		p := pkgs["default"]
		if p.Pname == "" || p.Pname != p.Meta.MainProgram {
			t.Errorf("%s: pname %q, mainProgram %q; want one name, the binary's", system, p.Pname, p.Meta.MainProgram)
		}
		if p.Version != testRev || !slices.ContainsFunc(p.LDFlags, func(f string) bool { return strings.HasPrefix(f, "-X ") && strings.HasSuffix(f, "="+testRev) }) {
			t.Errorf("%s: version %q, ldflags %v; want self.shortRev %q in both", system, p.Version, p.LDFlags, testRev)
		}
		// Explicit either way: 0 (the template, a static binary) or 1 for a
		// C library, whose libraries the image root's closure then carries;
		// unset, buildGoModule takes Go's default and links glibc unasked.
		if cgo, ok := p.Env["CGO_ENABLED"].(float64); !ok || cgo != 0 && cgo != 1 {
			t.Errorf("%s: env.CGO_ENABLED = %v, want 0 (a static binary) or 1 (cgo for a C library, see README's Adding a runtime dependency)", system, p.Env["CGO_ENABLED"])
		}
		if p.GoSum == nil || filepath.Base(*p.GoSum) != "go.sum" {
			t.Errorf("%s: goSum = %v, want ./go.sum (a changed go.sum then renames the vendored modules)", system, p.GoSum)
		}
		if p.VendorHash == nil || *p.VendorHash+"\n" != string(sri) {
			t.Errorf("%s: vendorHash %v; want go.mod.sri's one line %q, read with lib.fileContents ./go.mod.sri", system, p.VendorHash, sri)
		}
		if p.ModRoot != "./" || p.ProxyVendor || p.AllowGoReference {
			t.Errorf("%s: modRoot %q, proxyVendor %v, allowGoReference %v; want ./, false, false (-trimpath, no Go reference)",
				system, p.ModRoot, p.ProxyVendor, p.AllowGoReference)
		}
		if p.DoCheck == nil || *p.DoCheck {
			t.Errorf("%s: doCheck = %v, want false (the tests run in a check of their own)", system, p.DoCheck)
		}
	}
}

func TestGoModSRIIsOneSRIHashLine(t *testing.T) {
	sri, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "go.mod.sri"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sha256-[A-Za-z0-9+/]{43}=\n$`).Match(sri) {
		t.Errorf("go.mod.sri = %q; want one SRI sha256 and a newline: run scripts/vendorhash --write", sri)
	}
}

// The vendored modules (a fixed-output derivation) must be the same store
// path at every commit, while the binary's version follows the commit.
func TestVendoredModulesDoNotDependOnTheCommit(t *testing.T) {
	a := evaluate(t, "1111111").Packages
	b := evaluate(t, "2222222").Packages
	for system := range a {
		pa, pb := a[system]["default"], b[system]["default"]
		if pa.GoModules.Out != pb.GoModules.Out || strings.Contains(pa.GoModules.Name, "1111111") {
			t.Errorf("%s: goModules at two commits: %s and %s; keep the version out of its name (overrideModAttrs)", system, pa.GoModules.Out, pb.GoModules.Out)
		}
		if slices.Equal(pa.LDFlags, pb.LDFlags) {
			t.Errorf("%s: the ldflags do not change with the commit: %v", system, pa.LDFlags)
		}
	}
}

// The vendored modules' name still follows go.sum, as nixpkgs makes it: a
// go.sum change with a stale vendorHash must fail, not reuse old modules.
func TestVendoredModulesFollowGoSum(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t)
	before, err := Evaluate(dir, testRev)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "go.sum"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("example.com/new v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	after, err := Evaluate(dir, testRev)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := before.Packages["x86_64-linux"]["default"], after.Packages["x86_64-linux"]["default"]
	if pa.GoModules.Out == pb.GoModules.Out {
		t.Errorf("goModules %s did not change with go.sum; keep nixpkgs' go.sum suffix in its name", pa.GoModules.Name)
	}
}

func TestPackageSourceIsOnlyWhatTheBuildReads(t *testing.T) {
	for system, pkgs := range evaluate(t, testRev).Packages {
		p := pkgs["default"]
		for _, need := range []string{"go.mod", "go.sum", "main.go"} {
			if !slices.Contains(p.Src, need) {
				t.Errorf("%s: src lacks %s: %v", system, need, p.Src)
			}
		}
		for _, f := range p.Src {
			inTestdata := strings.HasPrefix(f, "testdata/")
			if f != "go.mod" && f != "go.sum" && !strings.HasSuffix(f, ".go") && !inTestdata {
				t.Errorf("%s: src holds %s: only go.mod, go.sum, Go files and testdata/ may rebuild the package", system, f)
			}
			if strings.HasPrefix(f, "scripts/") {
				t.Errorf("%s: src holds %s: scripts/ is a separate module", system, f)
			}
		}
	}
}

func TestVersionWithoutRevisionIsDev(t *testing.T) {
	p := evaluate(t, "").Packages["x86_64-linux"]["default"]
	if p.Version != "dev" || !slices.ContainsFunc(p.LDFlags, func(f string) bool { return strings.HasSuffix(f, "=dev") }) {
		t.Errorf("version %q, ldflags %v; want dev without a revision", p.Version, p.LDFlags)
	}
}

func TestAppRunsThePackage(t *testing.T) {
	out := evaluate(t, testRev)
	for system, pkgs := range out.Packages {
		app := out.Apps[system]["default"]
		pkg := pkgs["default"]
		if want := pkg.Out + "/bin/" + pkg.Meta.MainProgram; app.Type != "app" || app.Program != want {
			t.Errorf("apps.%s.default = %+v, want type app running %s", system, app, want)
		}
		if app.Meta.Description == "" {
			t.Errorf("apps.%s.default has no meta.description", system)
		}
	}
}

// golangci-lint panics on code for a newer Go than the Go it was built
// with; flake.nix must build it with the package's Go, whatever nixpkgs
// chooses (the stub's default golangci-lint is built with another Go).
func TestGolangciLintIsBuiltWithThePackagesGo(t *testing.T) {
	if problems := golangciLintGoProblems(evaluate(t, testRev)); len(problems) > 0 {
		t.Error(strings.Join(problems, "\n"))
	}
}

func TestGolangciLintGoCheckCatchesNixpkgsDefault(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t)
	withOutputs(t, dir, `{
    checks = builtins.mapAttrs (system: checks: checks // {
      golangci-lint = checks.golangci-lint.overrideAttrs (_: {
        nativeCheckInputs = [ inputs.nixpkgs.legacyPackages.${system}.golangci-lint ];
      });
    }) outputs.checks;
  }`)
	out, err := Evaluate(dir, testRev)
	if err != nil {
		t.Fatal(err)
	}
	if problems := golangciLintGoProblems(out); len(problems) == 0 {
		t.Error("a golangci-lint built with another Go than the package's passed")
	}
}

func golangciLintGoProblems(out *Outputs) (problems []string) {
	for system, pkgs := range out.Packages {
		goName := pkgs["default"].Go
		var lints []Tool
		for _, check := range out.Checks[system] {
			lints = append(lints, toolsNamed(append(check.NativeCheckInputs, check.NativeBuildInputs...), "golangci-lint")...)
		}
		lints = append(lints, toolsNamed(out.DevShells[system]["default"], "golangci-lint")...)
		if len(lints) == 0 {
			problems = append(problems, system+": no check or dev shell runs golangci-lint")
		}
		for _, lint := range lints {
			if lint.Go == nil || *lint.Go != goName {
				builtWith := "no Go"
				if lint.Go != nil {
					builtWith = *lint.Go
				}
				problems = append(problems, system+": golangci-lint is built with "+builtWith+", the package with "+goName+
					": build it with the package's Go (pkgs.golangci-lint.override { buildGo126Module = ...; })")
			}
		}
	}
	return problems
}

func toolsNamed(tools []Tool, name string) []Tool {
	var out []Tool
	for _, tool := range tools {
		if tool.Name == name {
			out = append(out, tool)
		}
	}
	return out
}

// The dev shell holds the package's Go and every tool a check runs, so
// scripts/test in `nix develop` runs what `nix flake check` runs.
func TestDevShellHasTheChecksTools(t *testing.T) {
	out := evaluate(t, testRev)
	for system, pkgs := range out.Packages {
		shell := out.DevShells[system]["default"]
		has := func(name string) bool {
			return slices.ContainsFunc(shell, func(tool Tool) bool { return tool.Name == name })
		}
		if goName := pkgs["default"].Go; !has(goName) {
			t.Errorf("devShells.%s.default lacks the package's Go %s: %v", system, goName, shell)
		}
		for name, check := range out.Checks[system] {
			for _, tool := range append(check.NativeCheckInputs, check.NativeBuildInputs...) {
				if !has(tool.Name) {
					t.Errorf("devShells.%s.default lacks %s, which checks.%s runs", system, tool.Name, name)
				}
			}
		}
	}
}

// versionCommands are how each tool a check runs prints its version.
var versionCommands = map[string]string{
	"go":            "go version",
	"gotestsum":     "gotestsum --version",
	"golangci-lint": "golangci-lint version",
	"actionlint":    "actionlint -version",
	"shellcheck":    "shellcheck --version",
	"nixfmt":        "nixfmt --version",
}

func TestChecks(t *testing.T) {
	out := evaluate(t, testRev)
	for system, checks := range out.Checks {
		pkg := out.Packages[system]["default"]
		if !slices.ContainsFunc(slices.Collect(mapValues(checks)), func(c CheckEntry) bool { return c.Out == pkg.Out }) {
			t.Errorf("checks.%s has no check that builds the package %s (nix flake check only evaluates packages)", system, pkg.Out)
		}
		want := []string{"tests", "vet", "golangci-lint", "gofmt", "actionlint", "shellcheck", "nixfmt"}
		// The image and its closure check exist where images are built: Linux.
		linux := strings.HasSuffix(system, "-linux")
		if linux {
			want = append(want, "closure")
		}
		if _, ok := out.Roots[system]["image-root"]; ok != linux {
			t.Errorf("packages.%s has image-root %v, want it exactly on Linux systems", system, ok)
		}
		for _, name := range want {
			if _, ok := checks[name]; !ok {
				t.Errorf("checks.%s has no %s check: %v", system, name, keys(checks))
			}
		}
		for name, c := range checks {
			if c.Kind == "buildGoModule" && c.Out != pkg.Out {
				if c.GoModules.Out != pkg.GoModules.Out || !reflect.DeepEqual(c.Tags, pkg.Tags) || c.DoCheck == nil || !*c.DoCheck || c.CheckPhase == nil {
					t.Errorf("checks.%s.%s must override the package (its vendored modules %s, tags %v) with doCheck and a checkPhase; got goModules %s, tags %v",
						system, name, pkg.GoModules.Out, pkg.Tags, c.GoModules.Out, c.Tags)
				}
			}
			checkPrintsVersions(t, system+"."+name, c)
			for _, text := range []string{c.Script, deref(c.CheckPhase), deref(c.InstallPhase)} {
				if regexp.MustCompile(`\|\|\s*true`).MatchString(text) {
					t.Errorf("checks.%s.%s ignores failures with || true", system, name)
				}
			}
		}
		gofmtFiles := sourceFiles(t, checks["gofmt"].Script)
		if !slices.Contains(gofmtFiles, "main.go") || !slices.Contains(gofmtFiles, "scripts/cmd/vendorhash/main.go") {
			t.Errorf("checks.%s.gofmt must cover every Go file, the service's and scripts/: %v", system, gofmtFiles)
		}
		for _, f := range gofmtFiles {
			if !strings.HasSuffix(f, ".go") {
				t.Errorf("checks.%s.gofmt source holds %s", system, f)
			}
		}
		if files := sourceFiles(t, checks["shellcheck"].Script); !slices.Contains(files, "scripts/vendorhash") || !slices.Contains(files, ".ci/run") {
			t.Errorf("checks.%s.shellcheck source must hold scripts/* and .ci/run: %v", system, files)
		}
		if files := sourceFiles(t, checks["nixfmt"].Script); !slices.Contains(files, "flake.nix") {
			t.Errorf("checks.%s.nixfmt source lacks flake.nix: %v", system, files)
		}
		if !linux {
			continue
		}
		buildOnly, _ := checks["closure"].Env["buildOnly"].(string)
		for what, path := range map[string]string{"the package's Go": goPath(t, out, system), "the vendored modules": pkg.GoModules.Out} {
			if !strings.Contains(checks["closure"].Script, `"$closureInfo/store-paths"`) || !strings.Contains(buildOnly, path) {
				t.Errorf("checks.%s.closure must reject an image closure holding %s (%s): buildOnly = %q", system, what, path, buildOnly)
			}
		}
	}
}

// checkPrintsVersions: a check prints the version of each tool it runs
// (and of Go, for one in the package's build environment) before using it,
// so a CI log shows what ran.
func checkPrintsVersions(t *testing.T, name string, c CheckEntry) {
	t.Helper()
	script := c.Script
	var tools []string
	if c.Kind == "buildGoModule" {
		script = deref(c.CheckPhase)
		if c.CheckPhase != nil {
			tools = append(tools, "go")
		}
	}
	for _, tool := range append(c.NativeCheckInputs, c.NativeBuildInputs...) {
		tools = append(tools, strings.SplitN(tool.Name, "_", 2)[0]) // go_1_26 runs as go
	}
	lines := strings.Split(script, "\n")
	for _, tool := range tools {
		cmd, known := versionCommands[tool]
		if !known {
			t.Errorf("checks.%s runs %s; add how it prints its version to versionCommands", name, tool)
			continue
		}
		printed := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == cmd })
		used := slices.IndexFunc(lines, func(l string) bool {
			l = strings.TrimSpace(l)
			return l != cmd && (strings.HasPrefix(l, tool+" ") || strings.Contains(l, "$("+tool+" "))
		})
		if printed < 0 || (used >= 0 && used < printed) {
			t.Errorf("checks.%s must print its %s version (%s) before running it:\n%s", name, tool, cmd, script)
		}
	}
}

func mapValues[V any](m map[string]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// sourceFiles reads the file list the stub's lib.fileset.toSource puts in
// the store path name of a `cd ${src}` line.
func sourceFiles(t *testing.T, script string) []string {
	t.Helper()
	m := regexp.MustCompile(`cd /stub-source\{([^}]*)\}`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no `cd ${source}` line in:\n%s", script)
	}
	if m[1] == "" {
		return nil
	}
	return strings.Split(m[1], ",")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// goPath is the store path of the Go the package builds with, as the stub
// names it: the package's Go derivation by name.
func goPath(t *testing.T, out *Outputs, system string) string {
	t.Helper()
	pkg := out.Packages[system]["default"]
	if pkg.Go == "" {
		t.Fatalf("packages.%s.default has no go", system)
	}
	return "/nix/store/stub-" + pkg.Go
}

func TestABrokenFlakeIsASyntaxError(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte("{ outputs = _: { } "), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Evaluate(dir, ""); !errors.Is(err, ErrSyntax) {
		t.Errorf("evaluating a flake.nix with a syntax error: %v, want ErrSyntax", err)
	}
}
