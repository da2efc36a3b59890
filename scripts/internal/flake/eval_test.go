package flake

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

const testRev = "0123abc"

func TestFlakeNixParses(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	if _, err := NixInstantiate("--parse", filepath.Join(testkit.RepoRoot(t), "flake.nix")); err != nil {
		t.Fatal(err)
	}
}

// flakeCopy copies the flake's source (git-tracked files) to a temporary
// directory and applies edit to its flake.nix.
func flakeCopy(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flake")
	if err := copyFlakeSource(testkit.RepoRoot(t), dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "flake.nix")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(src))
	if edited == string(src) {
		t.Fatal("the edit changed nothing in flake.nix")
	}
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUndefinedVariableFailsToParse(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t, func(s string) string {
		return strings.Replace(s, "inherit (nixpkgs) lib;", "inherit (nixpkgs) lib;\n      typo = undefinedThing;", 1)
	})
	_, err := NixInstantiate("--parse", filepath.Join(dir, "flake.nix"))
	if err == nil || !strings.Contains(err.Error(), "undefined variable") {
		t.Fatalf("err = %v, want an undefined variable error", err)
	}
}

func TestUnknownNixpkgsAttributeFailsToEvaluate(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t, func(s string) string { return strings.Replace(s, "pkgs.wrk", "pkgs.wrk2", 1) })
	_, err := Evaluate(dir, testRev)
	if err == nil || !strings.Contains(err.Error(), "wrk2") {
		t.Fatalf("err = %v, want an evaluation error naming the missing attribute wrk2", err)
	}
}

func TestMissingPathInFilesetFailsToEvaluate(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t, func(s string) string {
		return strings.Replace(s, "./go.sum\n", "./go.sum\n        ./no-such-file\n", 1)
	})
	_, err := Evaluate(dir, testRev)
	if err == nil || !strings.Contains(err.Error(), "no-such-file") {
		t.Fatalf("err = %v, want an error naming the missing path", err)
	}
}

func TestTopLevelCGOEnabledFailsToEvaluate(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := flakeCopy(t, func(s string) string { return strings.Replace(s, "env.CGO_ENABLED = 0;", "CGO_ENABLED = 0;", 1) })
	_, err := Evaluate(dir, testRev)
	if err == nil || !strings.Contains(err.Error(), "env.CGO_ENABLED") {
		t.Fatalf("err = %v, want the error nixpkgs gives for a top-level CGO_ENABLED", err)
	}
}

func TestEverySystemHasEveryOutput(t *testing.T) {
	out := evaluate(t, testRev)
	if want := []string{"apps", "checks", "devShells", "formatter", "packages"}; !reflect.DeepEqual(out.OutputNames, want) {
		t.Errorf("outputs = %v, want %v", out.OutputNames, want)
	}
	systems := slices.Sorted(slices.Values(Systems))
	for name, got := range map[string][]string{
		"packages":  keys(out.Packages),
		"apps":      keys(out.Apps),
		"devShells": keys(out.DevShells),
		"formatter": keys(out.Formatter),
		"checks":    keys(out.Checks),
	} {
		if !reflect.DeepEqual(got, systems) {
			t.Errorf("%s systems = %v, want %v", name, got, systems)
		}
	}
	for _, system := range Systems {
		if got := keys(out.Packages[system]); !reflect.DeepEqual(got, []string{"default"}) {
			t.Errorf("packages.%s = %v, want default only", system, got)
		}
		if out.Formatter[system] != "nixfmt" {
			t.Errorf("formatter.%s = %q, want nixfmt", system, out.Formatter[system])
		}
	}
}

func TestPackageArguments(t *testing.T) {
	out := evaluate(t, testRev)
	src, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "flake.nix"))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := GoModules(src)
	if err != nil || len(mods) != 1 {
		t.Fatalf("GoModules: %v, %v", mods, err)
	}
	for _, system := range Systems {
		p := out.Packages[system]["default"]
		if p.Pname != "flakeship" || p.Meta.MainProgram != "flakeship" {
			t.Errorf("%s: pname %q, mainProgram %q; want flakeship", system, p.Pname, p.Meta.MainProgram)
		}
		if p.Version != testRev {
			t.Errorf("%s: version %q, want self.shortRev %q", system, p.Version, testRev)
		}
		if !reflect.DeepEqual(p.Tags, []string{"nomsgpack"}) {
			t.Errorf("%s: tags %v", system, p.Tags)
		}
		if want := []string{"-s", "-w", "-X main.version=" + testRev}; !reflect.DeepEqual(p.LDFlags, want) {
			t.Errorf("%s: ldflags %v, want %v", system, p.LDFlags, want)
		}
		if cgo, ok := p.Env["CGO_ENABLED"].(float64); !ok || cgo != 0 {
			t.Errorf("%s: env.CGO_ENABLED = %v, want 0", system, p.Env["CGO_ENABLED"])
		}
		if !reflect.DeepEqual(p.SubPackages, []string{"."}) {
			t.Errorf("%s: subPackages %v", system, p.SubPackages)
		}
		if p.GoSum == nil || filepath.Base(*p.GoSum) != "go.sum" || filepath.Base(filepath.Dir(*p.GoSum)) != "flake" {
			t.Errorf("%s: goSum = %v, want the flake's ./go.sum", system, p.GoSum)
		}
		if p.VendorHash == nil || *p.VendorHash != mods[0].VendorHash {
			t.Errorf("%s: vendorHash %v, want %s", system, p.VendorHash, mods[0].VendorHash)
		}
		if p.VendorHashPos == nil || p.VendorHashPos.Line != mods[0].Line || p.VendorHashPos.Column != mods[0].Column {
			t.Errorf("%s: Nix puts vendorHash at %+v, scripts/vendorhash reads it at %d:%d", system, p.VendorHashPos, mods[0].Line, mods[0].Column)
		}
		if p.ModRoot != "./" || p.ProxyVendor || p.AllowGoReference {
			t.Errorf("%s: modRoot %q, proxyVendor %v, allowGoReference %v; want ./, false, false (-trimpath, no Go reference)",
				system, p.ModRoot, p.ProxyVendor, p.AllowGoReference)
		}
		if p.DoCheck == nil || *p.DoCheck {
			t.Errorf("%s: doCheck = %v, want false (the tests run in checks.<system>.tests)", system, p.DoCheck)
		}
		if p.Go != "go-1.26" {
			t.Errorf("%s: built with %q, want Go 1.26", system, p.Go)
		}
	}
}

func TestPackageSourceIsOnlyWhatTheBuildReads(t *testing.T) {
	p := evaluate(t, testRev).Packages["x86_64-linux"]["default"]
	for _, need := range []string{"go.mod", "go.sum", "main.go"} {
		if !slices.Contains(p.Src, need) {
			t.Errorf("src lacks %s: %v", need, p.Src)
		}
	}
	for _, f := range p.Src {
		inTestdata := strings.HasPrefix(f, "testdata/")
		if f != "go.mod" && f != "go.sum" && !strings.HasSuffix(f, ".go") && !inTestdata {
			t.Errorf("src holds %s: only go.mod, go.sum, Go files and testdata/ may rebuild the package", f)
		}
		if strings.HasPrefix(f, "scripts/") {
			t.Errorf("src holds %s: scripts/ is a separate module", f)
		}
	}
}

func TestVersionWithoutRevisionIsDev(t *testing.T) {
	p := evaluate(t, "").Packages["x86_64-linux"]["default"]
	if p.Version != "dev" || !slices.Contains(p.LDFlags, "-X main.version=dev") {
		t.Errorf("version %q, ldflags %v; want dev without a revision", p.Version, p.LDFlags)
	}
}

func TestAppRunsThePackage(t *testing.T) {
	out := evaluate(t, testRev)
	for _, system := range Systems {
		app := out.Apps[system]["default"]
		pkg := out.Packages[system]["default"]
		if app.Type != "app" || app.Program != pkg.Out+"/bin/flakeship" {
			t.Errorf("apps.%s.default = %+v, want type app running %s/bin/flakeship", system, app, pkg.Out)
		}
		if app.Meta.Description == "" {
			t.Errorf("apps.%s.default has no meta.description", system)
		}
	}
}

func TestDevShellHasTheToolsAndTheBuildsGo(t *testing.T) {
	out := evaluate(t, testRev)
	for _, system := range Systems {
		shell := out.DevShells[system]["default"]
		want := []string{out.Packages[system]["default"].Go, "gopls", "gotestsum", "golangci-lint", "actionlint", "shellcheck", "flyctl", "nixfmt", "wrk"}
		for _, tool := range want {
			if !slices.Contains(shell, tool) {
				t.Errorf("devShells.%s.default lacks %s: %v", system, tool, shell)
			}
		}
	}
}

func TestChecks(t *testing.T) {
	out := evaluate(t, testRev)
	wantNames := []string{"actionlint", "closure", "flakeship", "gofmt", "golangci-lint", "nixfmt", "shellcheck", "tests", "vet"}
	for _, system := range Systems {
		checks := out.Checks[system]
		pkg := out.Packages[system]["default"]
		if got := keys(checks); !reflect.DeepEqual(got, wantNames) {
			t.Errorf("checks.%s = %v, want %v", system, got, wantNames)
		}
		if checks["flakeship"].Out != pkg.Out {
			t.Errorf("checks.%s.flakeship is %s, want the package %s", system, checks["flakeship"].Out, pkg.Out)
		}
		for _, name := range []string{"tests", "vet", "golangci-lint"} {
			c := checks[name]
			if c.Kind != "buildGoModule" || c.GoModules != pkg.GoModules || c.VendorHash == nil || *c.VendorHash != *pkg.VendorHash {
				t.Errorf("checks.%s.%s must override the package and reuse its vendored modules %s; got kind %s, goModules %s",
					system, name, pkg.GoModules, c.Kind, c.GoModules)
			}
			if !reflect.DeepEqual(c.Tags, pkg.Tags) || c.DoCheck == nil || !*c.DoCheck || c.CheckPhase == nil {
				t.Errorf("checks.%s.%s: tags %v doCheck %v; want the package's tags and a checkPhase", system, name, c.Tags, c.DoCheck)
			}
		}
		tests := checks["tests"]
		for _, part := range []string{"export HOME=$TMPDIR", "gotestsum", `--junitfile "$TMPDIR/junit.xml"`, `--jsonfile "$TMPDIR/test.json"`, "-tags=nomsgpack ./..."} {
			if !strings.Contains(*tests.CheckPhase, part) {
				t.Errorf("checks.%s.tests checkPhase lacks %q:\n%s", system, part, *tests.CheckPhase)
			}
		}
		if tests.InstallPhase == nil || !strings.Contains(*tests.InstallPhase, `cp "$TMPDIR/junit.xml" "$TMPDIR/test.json" $out/`) {
			t.Errorf("checks.%s.tests must install junit.xml and test.json into $out: %v", system, tests.InstallPhase)
		}
		if !slices.Contains(tests.NativeCheckInputs, "gotestsum") {
			t.Errorf("checks.%s.tests nativeCheckInputs = %v", system, tests.NativeCheckInputs)
		}
		if !strings.Contains(*checks["vet"].CheckPhase, "go vet -tags=nomsgpack ./...") {
			t.Errorf("checks.%s.vet checkPhase = %q", system, *checks["vet"].CheckPhase)
		}
		lint := checks["golangci-lint"]
		if !slices.Contains(lint.Src, ".golangci.yml") || !slices.Contains(lint.NativeCheckInputs, "golangci-lint") ||
			!strings.Contains(*lint.CheckPhase, "golangci-lint run --config .golangci.yml --build-tags=nomsgpack") {
			t.Errorf("checks.%s.golangci-lint: src %v, inputs %v, phase %q", system, lint.Src, lint.NativeCheckInputs, *lint.CheckPhase)
		}
		for name, tool := range map[string]string{"gofmt": pkg.Go, "actionlint": "actionlint", "shellcheck": "shellcheck", "nixfmt": "nixfmt"} {
			c := checks[name]
			if c.Kind != "runCommand" || !slices.Contains(c.NativeBuildInputs, tool) {
				t.Errorf("checks.%s.%s: kind %s, nativeBuildInputs %v; want a runCommand with %s", system, name, c.Kind, c.NativeBuildInputs, tool)
			}
		}
		gofmtFiles := sourceFiles(t, checks["gofmt"].Script)
		for _, f := range gofmtFiles {
			if !strings.HasSuffix(f, ".go") {
				t.Errorf("checks.%s.gofmt source holds %s", system, f)
			}
		}
		if !slices.Contains(gofmtFiles, "main.go") || !slices.Contains(gofmtFiles, "scripts/cmd/vendorhash/main.go") {
			t.Errorf("checks.%s.gofmt must cover every Go file, the service's and scripts/: %v", system, gofmtFiles)
		}
		if files := sourceFiles(t, checks["shellcheck"].Script); !slices.Contains(files, "scripts/vendorhash") {
			t.Errorf("checks.%s.shellcheck source lacks scripts/vendorhash: %v", system, files)
		}
		if files := sourceFiles(t, checks["nixfmt"].Script); !slices.Contains(files, "flake.nix") {
			t.Errorf("checks.%s.nixfmt source lacks flake.nix: %v", system, files)
		}
		if !strings.Contains(checks["closure"].Script, `"$closureInfo/store-paths"`) || !strings.Contains(checks["closure"].Script, pkg.Out) {
			t.Errorf("checks.%s.closure must compare the closure's store paths with the package alone:\n%s", system, checks["closure"].Script)
		}
		for name, c := range checks {
			for _, text := range []string{c.Script, deref(c.CheckPhase), deref(c.InstallPhase)} {
				if regexp.MustCompile(`\|\|\s*true`).MatchString(text) {
					t.Errorf("checks.%s.%s ignores failures with || true", system, name)
				}
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
