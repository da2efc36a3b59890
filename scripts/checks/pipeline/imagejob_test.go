package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"scripts/internal/testkit"
)

// flyInternalPort is fly.toml's [http_service] internal_port, the port Fly's
// proxy sends traffic to.
func flyInternalPort(t *testing.T, file string) int {
	t.Helper()
	var cfg struct {
		HTTPService struct {
			InternalPort int `toml:"internal_port"`
		} `toml:"http_service"`
	}
	if _, err := toml.DecodeFile(file, &cfg); err != nil {
		t.Fatalf("reading %s: %v", file, err)
	}
	if cfg.HTTPService.InternalPort == 0 {
		t.Fatalf("%s has no [http_service] internal_port", file)
	}
	return cfg.HTTPService.InternalPort
}

// TestImageJobRunsTheImageOnFlyTomlsPort: the image job publishes and probes
// the container on the port scripts/service-port reads from fly.toml, so the
// port is written in one place and CI reaches the image as Fly does.
func TestImageJobRunsTheImageOnFlyTomlsPort(t *testing.T) {
	port := flyInternalPort(t, filepath.Join(testkit.RepoRoot(t), "fly.toml"))
	wf := workflowNamed(t, "ci.yml")
	steps := get(wf.job(t, "image"), "steps").Content
	literal := regexp.MustCompile(`\b` + strconv.Itoa(port) + `\b`)
	portID := ""
	for i, step := range steps {
		run := get(step, "run")
		if run != nil && strings.Contains(run.Value, "scripts/service-port") {
			if id := get(step, "id"); id != nil {
				portID = id.Value
			}
		}
		scalars(step, "", func(at string, v *yaml.Node) {
			if (strings.HasPrefix(at, ".run") || strings.HasPrefix(at, ".env")) && literal.MatchString(v.Value) {
				t.Errorf("ci.yml job image step %s writes the port %d (%s = %q): read it from fly.toml with scripts/service-port and use that step's output", stepLabel(step, i), port, at, v.Value)
			}
		})
	}
	if portID == "" {
		t.Fatalf("ci.yml job image: no step with an id runs scripts/service-port (the port of fly.toml's internal_port)")
	}
	output := "steps." + portID + ".outputs.port"
	for _, fragment := range []string{"--publish", "scripts/verify"} {
		found := false
		for i, step := range steps {
			run := get(step, "run")
			if run == nil || !strings.Contains(run.Value, fragment) {
				continue
			}
			found = true
			env, usesPort := get(step, "env"), false
			for _, k := range keys(env) {
				if strings.Contains(get(env, k).Value, output) && strings.Contains(run.Value, "$"+k) {
					usesPort = true
				}
			}
			if !usesPort {
				t.Errorf("ci.yml job image step %s runs %s without the port from %s (pass it through env: and use the variable)", stepLabel(step, i), fragment, output)
			}
		}
		if !found {
			t.Errorf("ci.yml job image: no step runs %s", fragment)
		}
	}
}

func TestServicePortPrintsFlyTomlsInternalPort(t *testing.T) {
	testkit.RequireTool(t, "nix-instantiate", "apt-get install nix-bin (or install Nix)")
	root := testkit.RepoRoot(t)
	script := filepath.Join(root, "scripts", "service-port")
	// servicePort returns the script's stdout, or its stderr when it fails.
	servicePort := func(args ...string) (string, error) {
		var stderr strings.Builder
		cmd := exec.Command(script, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return stderr.String(), err
		}
		return strings.TrimSpace(string(out)), nil
	}

	want := flyInternalPort(t, filepath.Join(root, "fly.toml"))
	if got, err := servicePort(); err != nil || got != strconv.Itoa(want) {
		t.Errorf("scripts/service-port = %q (%v), want fly.toml's internal_port %d", got, err, want)
	}

	dir := t.TempDir()
	moved := filepath.Join(dir, "moved.toml")
	other := want%60000 + 1024
	writeFile(t, moved, "app = \"x\"\n\n[http_service]\n  internal_port = "+strconv.Itoa(other)+"\n")
	if got, err := servicePort(moved); err != nil || got != strconv.Itoa(other) {
		t.Errorf("scripts/service-port %s = %q (%v), want %d", moved, got, err, other)
	}

	for name, body := range map[string]string{
		"none.toml":   "app = \"x\"\n",
		"string.toml": "[http_service]\n  internal_port = \"" + strconv.Itoa(other) + "\"\n",
	} {
		file := filepath.Join(dir, name)
		writeFile(t, file, body)
		if out, err := servicePort(file); err == nil || !strings.Contains(out, "internal_port") {
			t.Errorf("scripts/service-port %s: want an error naming internal_port, got %q (%v)", name, out, err)
		}
	}
}

func writeFile(t *testing.T, file, body string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImageJobProbesTheRealImage: the probe (scripts/cmd/imageprobe), built
// static, runs inside the built image as the image's own USER, so the real
// image is proved, not only the empty-root model of it.
func TestImageJobProbesTheRealImage(t *testing.T) {
	steps := get(workflowNamed(t, "ci.yml").job(t, "image"), "steps").Content
	built, probed := false, false
	for i, step := range steps {
		run := get(step, "run")
		if run == nil || !strings.Contains(run.Value, "imageprobe") {
			continue
		}
		switch {
		case strings.Contains(run.Value, "go build"):
			built = true
			if !strings.Contains(run.Value, "CGO_ENABLED=0") || !strings.Contains(run.Value, "./cmd/imageprobe") {
				t.Errorf("ci.yml job image step %s builds the probe without CGO_ENABLED=0 or not from scripts/cmd/imageprobe: it must run in an image without libc", stepLabel(step, i))
			}
		case strings.Contains(run.Value, "docker run"):
			probed = true
			if strings.Contains(run.Value, "--user") {
				t.Errorf("ci.yml job image step %s runs the probe with --user: run it as the image's own USER", stepLabel(step, i))
			}
			if !strings.Contains(run.Value, "--volume") && !strings.Contains(run.Value, "--mount") {
				t.Errorf("ci.yml job image step %s does not mount the probe into the container", stepLabel(step, i))
			}
		}
	}
	if !built || !probed {
		t.Errorf("ci.yml job image must build scripts/cmd/imageprobe (built %v) and run it inside the image with docker run (run %v)", built, probed)
	}
}
