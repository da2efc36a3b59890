package flake

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

const multiModuleFlake = `{
  # vendorHash = "sha256-comment"; is a comment, not a binding
  /* so is this: vendorHash = "sha256-block"; { */
  outputs = { self, nixpkgs }: let
    pkgs = nixpkgs.legacyPackages.x86_64-linux;
    braces = "a { string with } braces ${ toString { a = "}"; } } and \" quotes";
    indented = ''
      vendorHash = "inside an indented string";
      ''${not interpolated} ${ "interpolated {" }
    '';
  in {
    packages.x86_64-linux.root = pkgs.buildGoModule (finalAttrs: {
      pname = "root";
      version = "1";
      src = ./.;
      vendorHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
      meta.description = finalAttrs.vendorHash;
    });
    packages.x86_64-linux.tool = pkgs.buildGoModule {
      pname = "tool";
      version = "1";
      src = ./.;
      modRoot = "./tools/tool";
      vendorHash = null;
      proxyVendor = false;
    };
    packages.x86_64-linux.proxy = pkgs.buildGoModule {
      pname = "proxy";
      version = "1";
      src = ./.;
      proxyVendor = true;
      vendorHash = "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";
      modRoot = "sub/";
    };
  };
}
`

func TestGoModulesFindsEveryModuleWithItsModRoot(t *testing.T) {
	mods, err := GoModules([]byte(multiModuleFlake))
	if err != nil {
		t.Fatal(err)
	}
	want := []GoModule{
		{ModRoot: "./", Dir: ".", VendorHash: "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Line: 16, Column: 7},
		{ModRoot: "./tools/tool", Dir: "tools/tool", Null: true, Line: 24, Column: 7},
		{ModRoot: "sub/", Dir: "sub", VendorHash: "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", ProxyVendor: true, Line: 32, Column: 7},
	}
	if len(mods) != len(want) {
		t.Fatalf("found %d modules, want %d: %+v", len(mods), len(want), mods)
	}
	for i := range want {
		got := mods[i]
		got.valueStart, got.valueEnd = 0, 0
		if got != want[i] {
			t.Errorf("module %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestGoModulesMatchNixPositions(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	dir := t.TempDir()
	file := filepath.Join(dir, "flake.nix")
	if err := os.WriteFile(file, []byte(multiModuleFlake), 0o644); err != nil {
		t.Fatal(err)
	}
	// Evaluate the same file with a buildGoModule that reports where Nix
	// saw each vendorHash, and what value and modRoot it got.
	expr := `let
  flake = import ` + file + `;
  buildGoModule = a: let args = if builtins.isFunction a then a args else a; in {
    pos = builtins.unsafeGetAttrPos "vendorHash" args;
    vendorHash = args.vendorHash;
    modRoot = args.modRoot or "./";
  };
  nixpkgs.legacyPackages.x86_64-linux = { inherit buildGoModule; };
  out = (flake.outputs { self = {}; inherit nixpkgs; }).packages.x86_64-linux;
in map (n: out.${n}) [ "root" "tool" "proxy" ]`
	out, err := NixInstantiate("--eval", "--strict", "--json", "--expr", expr)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := GoModules([]byte(multiModuleFlake))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, m := range mods {
		vh := `"vendorHash":null`
		if !m.Null {
			vh = `"vendorHash":"` + m.VendorHash + `"`
		}
		wantParts := []string{
			`"modRoot":"` + m.ModRoot + `"`,
			`"column":` + itoa(m.Column) + `,"file":"` + file + `","line":` + itoa(m.Line) + `}`,
			vh,
		}
		for _, part := range wantParts {
			if !strings.Contains(text, part) {
				t.Errorf("Nix's view %s lacks %s (module %+v)", text, part, m)
			}
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGoModulesRejectsComputedVendorHash(t *testing.T) {
	_, err := GoModules([]byte(`{ p = buildGoModule { vendorHash = lib.fakeHash; }; }`))
	if err == nil || !strings.Contains(err.Error(), "string literal or null") {
		t.Fatalf("err = %v, want a message that vendorHash must be a string literal or null", err)
	}
}

func TestGoModulesReportsUnterminatedString(t *testing.T) {
	_, err := GoModules([]byte("{ vendorHash = \"sha256-;\n}"))
	if err == nil || !strings.Contains(err.Error(), "unterminated string") {
		t.Fatalf("err = %v, want an unterminated string error", err)
	}
}

func TestWithVendorHashesChangesOnlyTheValues(t *testing.T) {
	src := []byte(multiModuleFlake)
	mods, err := GoModules(src)
	if err != nil {
		t.Fatal(err)
	}
	newRoot := "sha256-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC="
	newTool := "sha256-DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD="
	out, err := WithVendorHashes(src, mods, []string{newRoot, newTool, "null"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`vendorHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";`, `vendorHash = "`+newRoot+`";`,
		`vendorHash = null;`, `vendorHash = "`+newTool+`";`,
		`vendorHash = "sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=";`, `vendorHash = null;`,
	).Replace(multiModuleFlake)
	if string(out) != want {
		t.Errorf("rewritten flake differs from the expected one:\n%s", out)
	}
	again, err := GoModules(out)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].VendorHash != newRoot || again[1].VendorHash != newTool || !again[2].Null {
		t.Errorf("re-parsed modules = %+v", again)
	}
	if _, err := WithVendorHashes(src, mods, []string{`x" + "y`, "null", "null"}); err == nil {
		t.Error("WithVendorHashes accepted a value that would inject Nix code")
	}
}
