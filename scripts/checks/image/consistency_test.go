package image

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/flakeship/flakeship/scripts/internal/testkit"
)

// The Go that nixos-26.05 builds with (buildGoModule sets GOTOOLCHAIN=local).
const pinnedGo = "1.26.0"

func mustServiceSource(t *testing.T) *serviceSource {
	t.Helper()
	src, err := readServiceSource(testkit.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestOnePortEverywhere(t *testing.T) {
	src, img, cfg := mustServiceSource(t), mustImage(t), mustFlyConfig(t)
	if cfg.HTTPService == nil {
		t.Fatal("fly.toml has no [http_service]")
	}
	fly := fmt.Sprint(cfg.HTTPService.InternalPort)
	if img.ExposePort != src.DefaultPort || fly != src.DefaultPort {
		t.Errorf("the service listens on defaultPort %s, the Dockerfile EXPOSEs %s and fly.toml's internal_port is %s: make all three the same", src.DefaultPort, img.ExposePort, fly)
	}
	if port, set := cfg.Env["PORT"]; set && port != fly {
		t.Errorf("fly.toml [env] PORT = %q makes the service listen where internal_port (%s) does not send traffic; remove it (the default is %s)", port, fly, src.DefaultPort)
	}
}

func TestKillSignalAndTimeoutFitTheService(t *testing.T) {
	src, cfg := mustServiceSource(t), mustFlyConfig(t)
	if !slices.Contains(src.Signals, cfg.KillSignal) {
		t.Errorf("fly.toml kill_signal = %q, but the service only handles %v: Fly's stop would kill it without a drain", cfg.KillSignal, src.Signals)
	}
	for _, sig := range []string{"SIGINT", "SIGTERM"} {
		if !slices.Contains(src.Signals, sig) {
			t.Errorf("the service must handle %s (Fly's default kill signal is documented as both); it handles %v", sig, src.Signals)
		}
	}
	if cfg.KillTimeout == nil || cfg.KillTimeout.Duration <= src.ShutdownTimeout {
		t.Errorf("fly.toml kill_timeout %v must exceed the service's shutdownTimeout %s, or Fly kills it mid-drain", cfg.KillTimeout, src.ShutdownTimeout)
	}
}

func TestHealthChecksAnswer200(t *testing.T) {
	cfg := mustFlyConfig(t)
	if cfg.HTTPService == nil || len(cfg.HTTPService.Checks) == 0 {
		t.Fatal("fly.toml has no [[http_service.checks]]")
	}
	port := testkit.FreePort(t)
	cmd := exec.Command(testkit.ServiceBinary(t, "image-check"))
	cmd.Env = []string{"PORT=" + port}
	svc := startService(t, cmd, port)
	for _, c := range cfg.HTTPService.Checks {
		method := c.Method
		if method == "" {
			method = http.MethodGet
		}
		if status, body := svc.request(t, method, c.Path); status != http.StatusOK {
			t.Errorf("health check %s %s got %d %s; Fly counts only 200 as healthy (redirects are not followed)", method, c.Path, status, body)
		}
	}
}

func TestCmdRunsTheFlakesProgram(t *testing.T) {
	img, pkg := mustImage(t), flakePackage(t)
	gomod := mustModFile(t, repoFile(t, "go.mod"))
	// go build names the binary after the module path's last element.
	binary := path.Base(gomod.Module.Mod.Path)
	cmd := path.Base(img.Cmd[0])
	if cmd != pkg.Pname || cmd != pkg.Meta.MainProgram || cmd != binary {
		t.Errorf("the Dockerfile's CMD runs %q, flake.nix has pname %q and meta.mainProgram %q, and go build names the binary %q: make them one name", cmd, pkg.Pname, pkg.Meta.MainProgram, binary)
	}
	if !slices.Equal(pkg.SubPackages, []string{"."}) {
		t.Errorf("flake.nix builds subPackages %q; the image's CMD expects the one binary of the root package, [\".\"]", pkg.SubPackages)
	}
}

func TestGoLinesWithinNixpkgsGo(t *testing.T) {
	root := testkit.RepoRoot(t)
	for _, name := range []string{"go.mod", filepath.Join("scripts", "go.mod")} {
		f := mustModFile(t, filepath.Join(root, name))
		if f.Go == nil {
			t.Errorf("%s has no go line; add `go %s` or lower", name, pinnedGo)
			continue
		}
		if semver.Compare("v"+f.Go.Version, "v"+pinnedGo) > 0 {
			t.Errorf("%s: go %s is newer than the Go of the pinned nixpkgs (%s), which builds with GOTOOLCHAIN=local; lower it", name, f.Go.Version, pinnedGo)
		}
		if f.Toolchain != nil && semver.Compare("v"+strings.TrimPrefix(f.Toolchain.Name, "go"), "v"+pinnedGo) > 0 {
			t.Errorf("%s: toolchain %s is newer than %s; remove the toolchain line", name, f.Toolchain.Name, pinnedGo)
		}
	}
}

func mustModFile(t *testing.T, name string) *modfile.File {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax(name, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
