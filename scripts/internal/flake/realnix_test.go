package flake

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"scripts/internal/testkit"
)

// Where real Nix can evaluate the flake, these tests check it with the real
// nixpkgs (and the stub tests step aside); a failure here is a real one.
func requireRealNix(t *testing.T) {
	t.Helper()
	if ok, reason := RealNix(testkit.RepoRoot(t)); !ok {
		t.Skipf("real Nix cannot evaluate the flake (%s); the stub nixpkgs tests stand in", reason)
	}
}

func TestRealNixFlakeCheck(t *testing.T) {
	requireRealNix(t)
	if _, err := Nix("flake", "check", "--no-build", "--no-update-lock-file", flakeCopy(t)); err != nil {
		t.Fatal(err)
	}
}

func realEval(t *testing.T, ref, fn string, v any) {
	t.Helper()
	out, err := NixEval(ref, fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatal(err)
	}
}

const forSystem = `let system = builtins.currentSystem; in `

func TestRealNixVendoredModulesDoNotDependOnTheCommit(t *testing.T) {
	requireRealNix(t)
	dir := flakeCopy(t)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	type build struct {
		GoModules string   `json:"goModules"`
		LDFlags   []string `json:"ldflags"`
	}
	fn := `flake: ` + forSystem + `let p = flake.packages.${system}.default; in { goModules = p.goModules.outPath; inherit (p) ldflags; }`
	var one, two build
	realEval(t, "git+file://"+dir, fn, &one)
	git("commit", "-q", "--allow-empty", "-m", "two")
	realEval(t, "git+file://"+dir, fn, &two)
	if one.GoModules != two.GoModules {
		t.Errorf("goModules at two commits: %s and %s; keep the version out of its name (overrideModAttrs)", one.GoModules, two.GoModules)
	}
	if slices.Equal(one.LDFlags, two.LDFlags) {
		t.Errorf("the ldflags do not change with the commit: %v", one.LDFlags)
	}
}

func TestRealNixGolangciLintIsBuiltWithThePackagesGo(t *testing.T) {
	requireRealNix(t)
	var got struct {
		Package string   `json:"package"`
		Lint    []string `json:"lint"`
	}
	realEval(t, testkit.RepoRoot(t), `flake: `+forSystem+`let
  isLint = d: (d.pname or "") == "golangci-lint";
  lints = builtins.filter isLint (flake.checks.${system}.golangci-lint.nativeCheckInputs ++ flake.devShells.${system}.default.nativeBuildInputs);
in { package = flake.packages.${system}.default.go.outPath; lint = map (d: d.go.outPath) lints; }`, &got)
	if len(got.Lint) == 0 {
		t.Fatal("no golangci-lint in checks.golangci-lint or the dev shell")
	}
	for _, goPath := range got.Lint {
		if goPath != got.Package {
			t.Errorf("golangci-lint is built with %s, the package with %s: build it with the package's Go", goPath, got.Package)
		}
	}
}

func TestRealNixFormatterAndTemplate(t *testing.T) {
	requireRealNix(t)
	var got struct {
		Formatter   string `json:"formatter"`
		Description string `json:"description"`
	}
	realEval(t, testkit.RepoRoot(t), `flake: `+forSystem+`{
  formatter = flake.formatter.${system}.meta.mainProgram;
  description = flake.templates.default.description;
}`, &got)
	if got.Formatter != "treefmt" {
		t.Errorf("nix fmt runs %s; it passes no file names, so use nixpkgs' nixfmt-tree", got.Formatter)
	}
	if got.Description == "" {
		t.Error("templates.default has no description")
	}
}
