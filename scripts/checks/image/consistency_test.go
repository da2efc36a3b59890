package image

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	modulepkg "golang.org/x/mod/module"

	"scripts/internal/servicebuild"
	"scripts/internal/testkit"
)

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
		t.Errorf("the service listens on defaultPort %s (a const in the root module's Go source, config.go in the template), the Dockerfile EXPOSEs %s and fly.toml's internal_port is %s: make all three the same", src.DefaultPort, img.ExposePort, fly)
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
	if cfg.KillTimeout == nil {
		t.Errorf("fly.toml has no top-level kill_timeout: set kill_timeout = \"15s\" or more than the service's shutdownTimeout %s, or Fly kills it mid-drain after its default", src.ShutdownTimeout)
	} else if cfg.KillTimeout.Duration <= src.ShutdownTimeout {
		t.Errorf("fly.toml kill_timeout %v must exceed the service's shutdownTimeout %s, or Fly kills it mid-drain", cfg.KillTimeout, src.ShutdownTimeout)
	}
}

func TestHealthChecksAnswer2xx(t *testing.T) {
	cfg := mustFlyConfig(t)
	if cfg.HTTPService == nil || len(cfg.HTTPService.Checks) == 0 {
		t.Fatal("fly.toml has no [[http_service.checks]]")
	}
	port := testkit.FreePort(t)
	cmd := exec.Command(servicebuild.Binary(t, "image-check"))
	cmd.Env = []string{"PORT=" + port}
	svc := startService(t, cmd, port, cfg.HTTPService.Checks[0].Path)
	for _, c := range cfg.HTTPService.Checks {
		method := c.Method
		if method == "" {
			method = http.MethodGet
		}
		if status, body := svc.request(t, method, c.Path); status < 200 || status > 299 {
			t.Errorf("health check %s %s got %d %s; Fly's HTTP checks need a 2xx answer and do not follow redirects: point path in [[http_service.checks]] at a route the service answers", method, c.Path, status, body)
		}
	}
}

func TestCmdRunsTheFlakesProgram(t *testing.T) {
	img, pkg := mustImage(t), flakePackage(t)
	module := mustModFile(t, repoFile(t, "go.mod")).Module.Mod.Path
	binary := execName(module)
	cmd := path.Base(img.Cmd[0])
	if cmd != pkg.Meta.MainProgram || cmd != binary {
		t.Errorf("the Dockerfile's CMD runs %q and flake.nix's meta.mainProgram is %q, but go install names the binary %q after the module path %s: make all three one name (scripts/rename --module changes them together)", cmd, pkg.Meta.MainProgram, binary, module)
	}
	if !slices.Equal(pkg.SubPackages, []string{"."}) {
		t.Errorf("flake.nix builds subPackages %q; the image's CMD expects the one binary of the root package, [\".\"]", pkg.SubPackages)
	}
}

// execName is the name go install gives the root package's binary: the
// module path's last element, skipping a /vN major-version suffix (cmd/go's
// load.DefaultExecName).
func execName(module string) string {
	if prefix, major, ok := modulepkg.SplitPathVersion(module); ok && strings.HasPrefix(major, "/") {
		module = prefix
	}
	return path.Base(module)
}

func TestExecName(t *testing.T) {
	for module, want := range map[string]string{"example.com/acme/api": "api", "example.com/acme/api/v2": "api", "api": "api"} {
		if got := execName(module); got != want {
			t.Errorf("execName(%q) = %q, want %q", module, got, want)
		}
	}
}

// flakeGoMinors are the Go minor versions flake.nix names: buildGo1NNModule
// for the package and go_1_NN for the dev shell. The nixpkgs pin cannot be
// read offline, but these names say which Go release line it builds with.
var flakeGoName = regexp.MustCompile(`\bbuildGo1(\d\d)Module\b|\bgo_1_(\d+)\b`)

// Every go.mod is built with GOTOOLCHAIN=local by the flake's Go (the
// package) or the dev shell's (scripts/): its go line may not ask for more.
func TestGoLinesWithinNixpkgsGo(t *testing.T) {
	root := testkit.RepoRoot(t)
	flakeNix, err := os.ReadFile(filepath.Join(root, "flake.nix"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := -1
	for _, m := range flakeGoName.FindAllStringSubmatch(string(flakeNix), -1) {
		minor, _ := strconv.Atoi(m[1] + m[2])
		if pinned < 0 || minor < pinned {
			pinned = minor
		}
	}
	if pinned < 0 {
		t.Fatal("flake.nix names no Go release (buildGo1NNModule or pkgs.go_1_NN): name it, so the package, its checks and the dev shell build with one known Go")
	}
	for _, name := range []string{"go.mod", filepath.Join("scripts", "go.mod")} {
		f := mustModFile(t, filepath.Join(root, name))
		if f.Go == nil {
			t.Errorf("%s has no go line; add `go 1.%d.0` or lower", name, pinned)
			continue
		}
		if p := goVersionProblem("go "+f.Go.Version, f.Go.Version, pinned); p != "" {
			t.Errorf("%s: %s", name, p)
		}
		if f.Toolchain != nil {
			if p := goVersionProblem("toolchain "+f.Toolchain.Name, strings.TrimPrefix(f.Toolchain.Name, "go"), pinned); p != "" {
				t.Errorf("%s: %s", name, p)
			}
		}
	}
}

// goVersionProblem says why version (1.N or 1.N.P) may not build with
// every Go 1.pinned release: N > pinned, or a patch above 0 in the pinned
// line (which patch release the pin holds cannot be read here).
func goVersionProblem(line, version string, pinned int) string {
	parts := strings.Split(version, ".")
	if len(parts) < 2 || parts[0] != "1" {
		return line + " is not a Go 1.N release"
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return line + " is not a Go 1.N release"
	}
	patch := "0"
	if len(parts) > 2 {
		patch = parts[2]
	}
	switch {
	case minor > pinned:
		return fmt.Sprintf("%s needs a newer Go than the flake's Go 1.%d, and nixpkgs builds with GOTOOLCHAIN=local: lower it to `go 1.%d.0` (or move flake.nix to a nixpkgs release and Go attribute that have Go 1.%d)", line, pinned, pinned, minor)
	case minor == pinned && patch != "0":
		return fmt.Sprintf("%s needs a Go 1.%d patch release the nixpkgs pin may not have (GOTOOLCHAIN=local refuses older ones): write `go 1.%d.0`", line, pinned, pinned)
	}
	return ""
}

func TestGoVersionProblem(t *testing.T) {
	for version, want := range map[string]string{
		"1.26.0": "", "1.26": "", "1.25.7": "", "1.24": "",
		"1.27.0": "lower it to `go 1.26.0`", "1.26.1": "write `go 1.26.0`", "2.0": "not a Go 1.N release",
	} {
		got := goVersionProblem("go "+version, version, 26)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("go %s with the flake on Go 1.26: got %q, want %q", version, got, want)
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
