package flake

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// servicebuild.Build must build the service exactly like packages.default.
func TestFlakeAndServicebuildAgree(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", installNix)
	p, err := PackageAttrs(testkit.RepoRoot(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Tags, servicebuild.Tags) {
		t.Errorf("flake tags %v, servicebuild.Tags %v", p.Tags, servicebuild.Tags)
	}
	want := strings.Join(servicebuild.LDFlags, " ") + " -X " + servicebuild.VersionVar + "=" + p.Version
	if got := strings.Join(p.LDFlags, " "); got != want {
		t.Errorf("flake ldflags %q, servicebuild ldflags %q", got, want)
	}
	// servicebuild passes -trimpath and CGO_ENABLED=0; the flake gets the
	// first from buildGoModule (allowGoReference = false) and sets the second.
	if p.AllowGoReference {
		t.Error("allowGoReference = true drops -trimpath, which servicebuild always passes")
	}
	if cgo, ok := p.Env["CGO_ENABLED"].(float64); !ok || cgo != 0 {
		t.Errorf("flake env.CGO_ENABLED = %v, servicebuild builds with CGO_ENABLED=0", p.Env["CGO_ENABLED"])
	}
}
