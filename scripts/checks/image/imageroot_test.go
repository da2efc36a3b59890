package image

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"scripts/internal/flake"
	"scripts/internal/servicebuild"
	"scripts/internal/testkit"
)

// rootSpec is an image root as flake.nix declares it (imageRootSpecFor):
// links into the store, files, and directories with a mode and an owner.
type rootSpec struct {
	Links map[string]string `json:"links"`
	Files map[string]string `json:"files"`
	Dirs  []rootDir         `json:"dirs"`
}

type rootDir struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// flakeRoot is packages.x86_64-linux.<name> of flake.nix (an image root),
// evaluated against the stub nixpkgs: the script that lays it out and its
// spec.
type flakeRoot struct {
	Script string
	Spec   rootSpec
}

var evaluated struct {
	once sync.Once
	out  *flake.Outputs
	err  error
}

func mustFlakeRoot(t *testing.T, name string) flakeRoot {
	t.Helper()
	evaluated.once.Do(func() { evaluated.out, evaluated.err = flake.Evaluate(testkit.RepoRoot(t), "") })
	flake.Require(t, evaluated.err)
	entry, ok := evaluated.out.Roots["x86_64-linux"][name]
	if !ok {
		t.Fatalf("flake.nix has no packages.x86_64-linux.%s (a runCommand image root the Dockerfile builds)", name)
	}
	specJSON, _ := entry.Env["spec"].(string)
	var spec rootSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		t.Fatalf("packages.x86_64-linux.%s has no JSON spec attribute: %v", name, err)
	}
	return flakeRoot{Script: entry.Script, Spec: spec}
}

// layOut builds the root from spec as the image has it: the flake's own
// script makes the tree and the dirs manifest, then, as the Dockerfile does,
// the tree is copied and each manifest line made. Every store path a link
// points at gets a host stand-in (standIn), named in the test log.
func layOut(t *testing.T, r flakeRoot, spec rootSpec) string {
	t.Helper()
	testkit.RequireTool(t, "jq", "apt-get install jq")
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "root-derivation")
	script := exec.Command("bash", "-eu", "-o", "pipefail", "-c", r.Script)
	script.Env = append(os.Environ(), "out="+out, "spec="+string(specJSON))
	if output, err := script.CombinedOutput(); err != nil {
		t.Fatalf("the image root's script (flake.nix, imageRootFor) fails: %v\n%s", err, output)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if output, err := exec.Command("cp", "-a", filepath.Join(out, "root")+"/.", root+"/").CombinedOutput(); err != nil {
		t.Fatalf("copying the root's tree: %v\n%s", err, output)
	}
	manifest, err := os.ReadFile(filepath.Join(out, "dirs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
		if line != "" {
			makeDir(t, root, line)
		}
	}
	for _, target := range spec.Links {
		if strings.HasPrefix(target, "/nix/store/") {
			provide(t, root, target)
		}
	}
	return root
}

// makeDir makes one "mode uid gid path" line of the dirs manifest, as
// install -d -m -o -g does in the Dockerfile (the owner only as root).
func makeDir(t *testing.T, root, line string) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 4 {
		t.Fatalf("dirs manifest line %q: want mode uid gid path", line)
	}
	mode, errM := strconv.ParseUint(f[0], 8, 32)
	uid, errU := strconv.Atoi(f[1])
	gid, errG := strconv.Atoi(f[2])
	if errM != nil || errU != nil || errG != nil {
		t.Fatalf("dirs manifest line %q: want octal mode, numeric uid and gid", line)
	}
	dir := filepath.Join(root, f[3])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	perm := os.FileMode(mode & 0o777)
	if mode&0o1000 != 0 {
		perm |= os.ModeSticky
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// Host stand-ins for what the stub nixpkgs cannot build, by the stub
// derivation a link points into (stub-<name>) and the path inside it.
var standIns = map[string]struct{ host, what, install string }{
	"cacert/etc/ssl/certs/ca-bundle.crt": {"/etc/ssl/certs/ca-certificates.crt", "Debian's CA bundle for nixpkgs' cacert", "apt-get install ca-certificates"},
	"zoneinfo":                           {"/usr/share/zoneinfo", "Debian's zoneinfo for the flake's zoneinfo (nixpkgs' tzdata)", "apt-get install tzdata"},
}

// provide puts a stand-in for the store path target into root: the
// service binary built as the flake builds it, a host file or directory
// from standIns, or for a runtime program (<drv>/bin/<name>) the host's
// program of that name.
func provide(t *testing.T, root, target string) {
	t.Helper()
	rel := strings.TrimPrefix(strings.TrimPrefix(target, "/nix/store/"), "stub-")
	dst := filepath.Join(root, target)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	pkg := flakePackage(t)
	if target == pkg.Out+"/bin/"+pkg.Meta.MainProgram {
		binary := servicebuild.Binary(t, "image-check")
		copyFile(t, binary, dst)
		provideLibraries(t, root, binary)
		return
	}
	host, what := "", ""
	if s, ok := standIns[rel]; ok {
		if _, err := os.Stat(s.host); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s: %v; %s", s.what, err, s.install)
			}
			t.Skipf("skipping: no %s (%v); %s", s.what, err, s.install)
		}
		host, what = s.host, s.what
	} else if dir, name := path.Split(rel); path.Base(dir) == "bin" {
		found, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("the image root links %s, a runtime program; this test stands in the host's %s for it, and there is none: install it", target, name)
		}
		host, what = found, "the host's "+name+" for a runtime program"
		provideLibraries(t, root, found)
	} else {
		t.Fatalf("the image root links %s, which has no host stand-in here: add one to standIns (scripts/checks/image/imageroot_test.go)", target)
	}
	if output, err := exec.Command("cp", "-a", "-L", host, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", host, err, output)
	}
	t.Logf("stand-in: %s at %s (%s)", host, target, what)
}

var probeBuild struct {
	mu  sync.Mutex
	bin string
}

// probeBinary builds scripts/cmd/imageprobe static, as CI builds it for the
// real image.
func probeBinary(t *testing.T) string {
	t.Helper()
	probeBuild.mu.Lock()
	defer probeBuild.mu.Unlock()
	if probeBuild.bin != "" {
		return probeBuild.bin
	}
	bin := filepath.Join(testkit.ScratchDir(t, "imageprobe"), "imageprobe")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/imageprobe")
	build.Dir = filepath.Join(testkit.RepoRoot(t), "scripts")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if output, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the image probe: %v\n%s", err, output)
	}
	probeBuild.bin = bin
	return bin
}

// passwdEntry is the name and home of uid in an /etc/passwd text.
func passwdEntry(passwd string, uid int) (name, home string, ok bool) {
	for _, line := range strings.Split(passwd, "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[2] == strconv.Itoa(uid) {
			return f[0], f[5], true
		}
	}
	return "", "", false
}

// runProbe runs the probe in root as the image runs its CMD (USER, the
// image's environment) and returns its output and error.
func runProbe(t *testing.T, root string, img runtimeImage, user string) (string, error) {
	t.Helper()
	copyFile(t, probeBinary(t), filepath.Join(root, "imageprobe"))
	cmd, _ := emptyRootCommand(t, root, img.UID, img.GID, []string{"/imageprobe", "-user", user, "-nonroot"})
	cmd.Env = []string{"HOME=" + img.Home}
	output, err := cmd.CombinedOutput()
	if rmErr := os.Remove(filepath.Join(root, "imageprobe")); rmErr != nil {
		t.Fatal(rmErr)
	}
	return string(output), err
}

// The image's user, its home and the root agree: USER's uid has a passwd
// entry, ENV HOME is its home, and that home is a directory of the root
// owned by the user.
func TestImageUserAndHomeAgreeWithTheFlake(t *testing.T) {
	img, spec := mustImage(t), productionRoot(t).Spec
	name, home, ok := passwdEntry(spec.Files["etc/passwd"], img.UID)
	if !ok {
		t.Fatalf("the Dockerfile's USER %d has no entry in the flake's etc/passwd (imageRootSpecFor): user.Current fails; add one", img.UID)
	}
	if home != img.Home {
		t.Errorf("the Dockerfile's ENV HOME is %s, but the flake's passwd gives %s (uid %d) home %s: make them one", img.Home, name, img.UID, home)
	}
	i := slices.IndexFunc(spec.Dirs, func(d rootDir) bool { return "/"+d.Path == home })
	if i < 0 || spec.Dirs[i].UID != img.UID {
		t.Errorf("the home %s of %s must be one of the flake's dirs owned by uid %d: %+v", home, name, img.UID, spec.Dirs)
	}
}

// stageRoot is the flake attribute (a root) that the stage named stage
// builds with nix build .#<attr>, as the Dockerfile says.
func stageRoot(t *testing.T, stage string) string {
	t.Helper()
	d := mustDockerfile(t)
	i := stageNamed(t, d, stage)
	var attrs []string
	for _, c := range d.stages[i].Commands {
		run, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		cmds, _ := simpleCommands(run.CmdLine)
		for _, cmd := range cmds {
			if hasPrefixWords(cmd.words, "nix", "build") && !slices.Contains(cmd.words, "--inputs-from") {
				for _, i := range installables(cmd.words[2:]) {
					attrs = append(attrs, strings.TrimPrefix(i, ".#"))
				}
			}
		}
	}
	if len(attrs) != 1 {
		t.Fatalf("stage %s builds %v: want one root of the flake (nix build .#<root>)", stage, attrs)
	}
	return attrs[0]
}

// The image's root: what the stage the final stage copies from builds.
func productionRoot(t *testing.T) flakeRoot {
	t.Helper()
	return mustFlakeRoot(t, stageRoot(t, mustImage(t).From))
}

// Production has no shell; the debug root is the image root plus one.
func TestOnlyTheDebugRootHasAShell(t *testing.T) {
	d := mustDockerfile(t)
	debugFrom := checkFinalStage(d.stages[stageNamed(t, d, debugStage)], "debug stage", new(problems)).From
	image, debug := productionRoot(t).Spec, mustFlakeRoot(t, stageRoot(t, debugFrom)).Spec
	isShell := func(p string) bool {
		return slices.Contains([]string{"sh", "bash", "ash", "dash", "busybox"}, path.Base(p))
	}
	for link, target := range image.Links {
		if isShell(link) || isShell(target) {
			t.Errorf("the image root links %s -> %s, a shell: production keeps shells out; put it in the debug root only", link, target)
		}
	}
	if !isShell(debug.Links["bin/sh"]) {
		t.Errorf("the debug root has no shell at bin/sh (links %v): fly console --build-target debug needs one", debug.Links)
	}
	// fly console starts its machine with init exec /bin/sleep inf (flyctl
	// v0.4.87 internal/appconfig, ToConsoleMachineConfig): without it the
	// console machine never starts.
	if _, ok := debug.Links["bin/sleep"]; !ok {
		t.Errorf("the debug root has no bin/sleep (links %v): fly console's machine runs /bin/sleep inf as its init command", debug.Links)
	}
	for link, target := range image.Links {
		if debug.Links[link] != target {
			t.Errorf("the debug root differs from the image root at %s (%s, want %s): it must be the same root plus busybox", link, debug.Links[link], target)
		}
	}
	if fmt.Sprint(debug.Files, debug.Dirs) != fmt.Sprint(image.Files, image.Dirs) {
		t.Errorf("the debug root's files and dirs differ from the image root's: it must be the same root plus busybox")
	}
}

// Taking any one part out of the flake's declaration turns the probe red,
// with a message saying what a service would lose. It tests the probe (the
// template's machinery): TestImageRunsFromAnEmptyRoot guards a user's edit.
func TestEveryPartOfTheImageRootIsNeeded(t *testing.T) {
	testkit.FullTier(t)
	img, r := mustImage(t), productionRoot(t)
	user, _, _ := passwdEntry(r.Spec.Files["etc/passwd"], img.UID)
	type part struct {
		name string
		drop func(rootSpec) rootSpec
	}
	var parts []part
	for link := range r.Spec.Links {
		if path.Dir(link) == "bin" {
			continue // the programs: the service's CMD test needs it
		}
		parts = append(parts, part{"link " + link, func(s rootSpec) rootSpec {
			s.Links = maps(s.Links, link)
			return s
		}})
	}
	for file := range r.Spec.Files {
		parts = append(parts, part{"file " + file, func(s rootSpec) rootSpec {
			s.Files = maps(s.Files, file)
			return s
		}})
	}
	for i, d := range r.Spec.Dirs {
		parts = append(parts, part{"dir " + d.Path, func(s rootSpec) rootSpec {
			s.Dirs = slices.Delete(slices.Clone(s.Dirs), i, i+1)
			return s
		}})
	}
	if len(parts) < 5 {
		t.Fatalf("the image root declares only %d parts besides its programs; want the CA roots, zoneinfo, passwd, group, /tmp and the home", len(parts))
	}
	// Each part's removal proves something only if the whole root passes.
	if output, err := runProbe(t, layOut(t, r, r.Spec), img, user); err != nil {
		t.Fatalf("the probe fails in the whole image root, so removing a part proves nothing (TestImageRunsFromAnEmptyRoot says why):\n%s", output)
	}
	for _, p := range parts {
		t.Run(p.name, func(t *testing.T) {
			output, err := runProbe(t, layOut(t, r, p.drop(r.Spec)), img, user)
			if err == nil {
				t.Fatalf("without %s the probe still passes: either the part is not needed (take it out of flake.nix) or the probe misses what it gives\n%s", p.name, output)
			}
			if !strings.Contains(output, "FAIL") || !strings.Contains(output, " would ") {
				t.Errorf("without %s the probe fails without saying what a service would lose:\n%s", p.name, output)
			}
			t.Logf("without %s:\n%s", p.name, output)
		})
	}
}

// maps returns m without key.
func maps(m map[string]string, key string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// provideLibraries stands in the host's shared libraries for a dynamic
// binary (cgo on): in the image, the package's closure brings nixpkgs'
// glibc and C libraries; here ldd's answer for the host build does.
func provideLibraries(t *testing.T, root, binary string) {
	t.Helper()
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		return // static
	}
	ldd := testkit.RequireTool(t, "ldd", "apt-get install libc-bin")
	out, err := exec.Command(ldd, binary).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", binary, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, field := range strings.Fields(line) {
			if !strings.HasPrefix(field, "/") {
				continue
			}
			dst := filepath.Join(root, field)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if output, err := exec.Command("cp", "-L", field, dst).CombinedOutput(); err != nil {
				t.Fatalf("copying %s: %v\n%s", field, err, output)
			}
			t.Logf("stand-in: the host's %s for the package's C libraries (the image's closure holds nixpkgs')", field)
		}
	}
}
