package servicebuild

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"scripts/internal/flake"
	"scripts/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const testRev = "0123abc"

// The binary records how it was built (go version -m); that record must be
// what flake.nix's packages.default asks buildGoModule for.
func TestBinaryIsBuiltAsFlakeNixSays(t *testing.T) {
	bin := Binary(t, testRev)
	p, err := flake.PackageAttrs(testkit.RepoRoot(t), testRev)
	if err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if got, want := settings["-tags"], strings.Join(p.Tags, ","); got != want {
		t.Errorf("built with -tags %q, flake.nix's tags say %q", got, want)
	}
	// With -trimpath, go does not record -ldflags; -X is checked through
	// /version below, -s and -w by what they strip (from ELF binaries).
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for flag, section := range map[string]string{"-s": ".symtab", "-w": ".debug_info"} {
			if slices.Contains(p.LDFlags, flag) && f.Section(section) != nil {
				t.Errorf("flake.nix links with %s, but the binary has a %s section", flag, section)
			}
		}
	}
	if trimmed := settings["-trimpath"] == "true"; trimmed == p.AllowGoReference {
		t.Errorf("built with -trimpath=%v; buildGoModule adds it exactly when allowGoReference is false (it is %v)", trimmed, p.AllowGoReference)
	}
	for k, v := range p.Env {
		if strings.HasPrefix(k, "CGO_") || strings.HasPrefix(k, "GO") {
			if got := settings[k]; got != nixEnvString(v) {
				t.Errorf("built with %s=%q, flake.nix's env says %q", k, got, nixEnvString(v))
			}
		}
	}
	if name := p.Meta.MainProgram; name != "" && !strings.HasSuffix(bin, "/"+name) {
		t.Errorf("binary %s is not named meta.mainProgram %q", bin, name)
	}
}

// What flake.nix links in as the version is what the service reports.
func TestBinaryReportsTheFlakeVersion(t *testing.T) {
	bin := Binary(t, testRev)
	p, err := flake.PackageAttrs(testkit.RepoRoot(t), testRev)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(testkit.StartService(t, bin) + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got struct{ Version string }
	if err := json.Unmarshal(body, &got); err != nil || got.Version != p.Version {
		t.Errorf("GET /version = %s (%v), want version %q, the flake's version for revision %s", body, err, p.Version, testRev)
	}
}

func TestRecipeOf(t *testing.T) {
	base := func() *flake.Package {
		return &flake.Package{
			Pname: "svc", ModRoot: "./", SubPackages: []string{"."},
			Tags: []string{"a", "b"}, LDFlags: []string{"-s", "-X main.version=1"},
			Env: map[string]any{"CGO_ENABLED": float64(0), "FLAG": true, "OFF": false},
		}
	}
	r, err := recipeOf("/repo", base())
	if err != nil {
		t.Fatal(err)
	}
	want := Recipe{
		Dir: "/repo", Main: ".", Name: "svc", Tags: []string{"a", "b"},
		Flags: []string{"-buildvcs=false", "-tags=a,b", "-ldflags=-s -X main.version=1 -buildid=", "-trimpath"},
		Env:   []string{"CGO_ENABLED=0", "FLAG=1", "GOFLAGS=-mod=mod", "GOWORK=off", "OFF="},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("recipe\n%+v\nwant\n%+v", r, want)
	}

	p := base()
	p.SubPackages, p.ModRoot, p.Meta.MainProgram, p.AllowGoReference = []string{"cmd/svc"}, "service", "svcd", true
	p.LDFlags = []string{"-buildid=x"}
	r, err = recipeOf("/repo", p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != "/repo/service" || r.Main != "./cmd/svc" || r.Name != "svcd" || slices.Contains(r.Flags, "-trimpath") || !slices.Contains(r.Flags, "-ldflags=-buildid=x") {
		t.Errorf("recipe %+v: want modRoot, the subPackage, meta.mainProgram, no -trimpath with allowGoReference and the flake's own -buildid", r)
	}

	p = base()
	p.SubPackages = []string{"a", "b"}
	if _, err := recipeOf("/repo", p); err == nil || !strings.Contains(err.Error(), "list only the service's main package") {
		t.Errorf("two subPackages gave %v, want an error naming the fix", err)
	}
	p = base()
	p.Pname = ""
	if _, err := recipeOf("/repo", p); err == nil || !strings.Contains(err.Error(), "set meta.mainProgram") {
		t.Errorf("no binary name gave %v, want an error naming the fix", err)
	}
}
