package flake

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"scripts/internal/testkit"
)

// The runCommand checks are bash scripts; run them here, on the files their
// lib.fileset source holds, with the tools from PATH, as the Nix sandbox
// would (bash -eu -o pipefail, like stdenv).
func runCheckScript(t *testing.T, check CheckEntry, edit func(dir string)) (string, error) {
	t.Helper()
	root := testkit.RepoRoot(t)
	src := filepath.Join(t.TempDir(), "source")
	for _, f := range sourceFiles(t, check.Script) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(src)
	}
	script := regexp.MustCompile(`cd /stub-source\{[^}]*\}`).ReplaceAllLiteralString(check.Script, `cd "$SRC"`)
	cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-c", script)
	out := filepath.Join(t.TempDir(), "out")
	cmd.Env = append(os.Environ(), "SRC="+src, "out="+out)
	output, err := cmd.CombinedOutput()
	if err == nil {
		if _, statErr := os.Stat(out); statErr != nil {
			t.Errorf("the %s script succeeded without creating $out", check.Name)
		}
	}
	return string(output), err
}

func TestGofmtCheckScript(t *testing.T) {
	testkit.FullTier(t)
	testkit.RequireTool(t, "gofmt", "install Go")
	check := evaluate(t, testRev).Checks["x86_64-linux"]["gofmt"]
	if out, err := runCheckScript(t, check, nil); err != nil || !strings.HasPrefix(out, "go version go") {
		t.Fatalf("gofmt check fails on the repository or does not start with go version (err %v):\n%s", err, out)
	}
	out, err := runCheckScript(t, check, func(dir string) {
		writeFile(t, filepath.Join(dir, "scripts", "ugly.go"), "package   scripts\nvar  x=1\n")
	})
	if err == nil || !strings.Contains(out, "scripts/ugly.go") {
		t.Errorf("gofmt check passed an unformatted file (err %v):\n%s", err, out)
	}
}

func TestShellcheckCheckScript(t *testing.T) {
	testkit.FullTier(t)
	testkit.RequireTool(t, "shellcheck", "apt-get install -y shellcheck")
	check := evaluate(t, testRev).Checks["x86_64-linux"]["shellcheck"]
	if out, err := runCheckScript(t, check, nil); err != nil || !strings.HasPrefix(out, "ShellCheck - shell script analysis tool\nversion: ") {
		t.Fatalf("shellcheck check fails on the repository or does not start with shellcheck --version (err %v):\n%s", err, out)
	}
	out, err := runCheckScript(t, check, func(dir string) {
		writeFile(t, filepath.Join(dir, "scripts", "bad"), "#!/usr/bin/env bash\necho $1\n")
	})
	if err == nil || !strings.Contains(out, "SC2086") {
		t.Errorf("shellcheck check passed a script with an unquoted variable (err %v):\n%s", err, out)
	}
	// .ci/run and scripts whose shebang has options are checked too.
	for name, file := range map[string]string{
		".ci/run":            "#!/usr/bin/env bash\necho $1\n",
		"scripts/with-flags": "#!/bin/sh -e\necho $1\n",
	} {
		out, err := runCheckScript(t, check, func(dir string) { writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), file) })
		if err == nil || !strings.Contains(out, "SC2086") || !strings.Contains(out, name) {
			t.Errorf("shellcheck check passed %s with an unquoted variable (err %v):\n%s", name, err, out)
		}
	}
}

func TestActionlintCheckScriptFailsWithoutWorkflows(t *testing.T) {
	testkit.FullTier(t)
	check := evaluate(t, testRev).Checks["x86_64-linux"]["actionlint"]
	// The script stops before running actionlint on anything; a stand-in
	// answers its version line.
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "actionlint"), "#!/bin/sh\necho 1.7.0\n")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := runCheckScript(t, check, func(dir string) {
		if err := os.RemoveAll(filepath.Join(dir, ".github")); err != nil {
			t.Fatal(err)
		}
	})
	if err == nil || !strings.Contains(out, "No workflow files") {
		t.Errorf("actionlint check passed with no workflows (err %v):\n%s", err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The closure check accepts what a service may ship (its runtime packages,
// a C library and glibc through cgo) and rejects what only builds it.
func TestClosureCheckScript(t *testing.T) {
	testkit.FullTier(t)
	out := evaluate(t, testRev)
	check := out.Checks["x86_64-linux"]["closure"]
	pkg := out.Packages["x86_64-linux"]["default"]
	buildOnly, _ := check.Env["buildOnly"].(string)
	run := func(storePaths ...string) (string, error) {
		info := t.TempDir()
		writeFile(t, filepath.Join(info, "store-paths"), strings.Join(storePaths, "\n")+"\n")
		cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-c", check.Script)
		cmd.Env = append(os.Environ(), "closureInfo="+info, "buildOnly="+buildOnly, "out="+filepath.Join(t.TempDir(), "out"))
		output, err := cmd.CombinedOutput()
		return string(output), err
	}
	shipped := []string{pkg.Out, "/nix/store/xxx-image-root", "/nix/store/xxx-nss-cacert-3.119", "/nix/store/xxx-zoneinfo",
		"/nix/store/xxx-git-minimal-2.50.1", "/nix/store/xxx-glibc-2.40-66", "/nix/store/xxx-sqlite-3.50.2", "/nix/store/xxx-gcc-14.3.0-lib"}
	if output, err := run(shipped...); err != nil {
		t.Errorf("closure check rejects an image with runtime packages and a C library: %v\n%s", err, output)
	}
	for what, path := range map[string]string{"the Go toolchain": goPath(t, out, "x86_64-linux"), "the vendored modules": pkg.GoModules.Out,
		"the C compiler": "/nix/store/stub-gcc", "the compiler wrapper": "/nix/store/stub-gcc-wrapper", "binutils": "/nix/store/stub-binutils-wrapper"} {
		output, err := run(append(shipped, path)...)
		if err == nil || !strings.Contains(output, "The image would carry") || !strings.Contains(output, path) {
			t.Errorf("closure check passed an image that carries %s (%s) (err %v):\n%s", what, path, err, output)
		}
	}
}

// The closure check on what the image root refers to, as the stub can tell
// it (each link's store path; real Nix adds their closures): a runtime
// package that is, or brings, what only builds the service fails here.
func TestClosureCheckAcceptsTheImageRootsReferences(t *testing.T) {
	out := evaluate(t, testRev)
	check := out.Checks["x86_64-linux"]["closure"]
	root, ok := out.Roots["x86_64-linux"]["image-root"]
	if !ok {
		t.Fatal("flake.nix has no packages.x86_64-linux.image-root")
	}
	var spec struct {
		Links map[string]string `json:"links"`
	}
	specJSON, _ := root.Env["spec"].(string)
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		t.Fatalf("image-root has no JSON spec: %v", err)
	}
	paths := []string{"/nix/store/stub-" + root.Name}
	for _, target := range spec.Links {
		if rest, found := strings.CutPrefix(target, "/nix/store/"); found {
			paths = append(paths, "/nix/store/"+strings.SplitN(rest, "/", 2)[0])
		}
	}
	info := t.TempDir()
	writeFile(t, filepath.Join(info, "store-paths"), strings.Join(paths, "\n")+"\n")
	buildOnly, _ := check.Env["buildOnly"].(string)
	cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-c", check.Script)
	cmd.Env = append(os.Environ(), "closureInfo="+info, "buildOnly="+buildOnly, "out="+filepath.Join(t.TempDir(), "out"))
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("checks.closure rejects the image root's own references %v: %v\n%s", paths, err, output)
	}
}

// The tests check's phases, run with the scripts module's gotestsum on a
// small module (the service's own tests run in scripts/test), produce the two
// reports CI publishes.
func TestTestsCheckPhasesWriteReports(t *testing.T) {
	testkit.FullTier(t)
	check := evaluate(t, testRev).Checks["x86_64-linux"]["tests"]
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "gotestsum"), "gotest.tools/gotestsum")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building gotestsum from the scripts module: %v\n%s", err, out)
	}
	module := t.TempDir()
	writeFile(t, filepath.Join(module, "go.mod"), "module example.com/reported\n\ngo 1.25.0\n")
	writeFile(t, filepath.Join(module, "tagged_test.go"),
		"//go:build nomsgpack\n\npackage reported\n\nimport \"testing\"\n\nfunc TestNeedsTheTag(t *testing.T) {}\n")
	tmp, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	script := "runHook() { :; }\n" + *check.CheckPhase + *check.InstallPhase
	cmd := exec.Command("bash", "-eu", "-o", "pipefail", "-c", script)
	cmd.Dir = module
	// The phase sets HOME=$TMPDIR, which would give go test a cold build
	// cache here; the run's own caches keep it to seconds.
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+tmp, "out="+out, "GOFLAGS=-mod=mod -trimpath", "GOWORK=off",
		"GOCACHE="+goEnv(t, "GOCACHE"), "GOMODCACHE="+goEnv(t, "GOMODCACHE"))
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tests check phases failed: %v\n%s", err, output)
	}
	for _, report := range []string{"junit.xml", "test.json"} {
		data, err := os.ReadFile(filepath.Join(out, report))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "TestNeedsTheTag") {
			t.Errorf("%s does not report the test that needs -tags=nomsgpack:\n%.300s", report, data)
		}
	}
}

// goEnv is go env NAME: the caches this test run uses.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
