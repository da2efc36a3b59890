package image

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"scripts/internal/testkit"
)

// emptyRootCommand returns a command that runs argv inside root, a
// directory holding nothing but the image's files, as uid:gid: through
// chroot --userspec when the test runs as root, else in a new user namespace
// that maps the caller to uid:gid, with unshare doing the chroot while it
// still holds the namespace's capabilities (util-linux >= 2.38 for
// --map-user). switchesUser says the host sees the process as uid.
func emptyRootCommand(t *testing.T, root string, uid, gid int, argv []string) (cmd *exec.Cmd, switchesUser bool) {
	t.Helper()
	if os.Geteuid() == 0 {
		chroot := testkit.RequireTool(t, "chroot", "apt-get install coreutils")
		args := append([]string{fmt.Sprintf("--userspec=%d:%d", uid, gid), root}, argv...)
		return exec.Command(chroot, args...), true
	}
	unshare := testkit.RequireTool(t, "unshare", "apt-get install util-linux")
	mapping := []string{fmt.Sprintf("--map-user=%d", uid), fmt.Sprintf("--map-group=%d", gid)}
	if out, err := exec.Command(unshare, append(mapping, "true")...).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("unprivileged user namespaces do not work here (unshare %s true: %v %s); run the test as root, or allow them: on Ubuntu 24.04 (GitHub's hosted runners) sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, on older Debian sysctl kernel.unprivileged_userns_clone=1; unshare needs util-linux 2.38 or newer for --map-user", strings.Join(mapping, " "), err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	args := append(append(mapping, "--root="+root), argv...)
	return exec.Command(unshare, args...), false
}

// The image is the flake's image root (imageRootSpecFor), laid out as the
// Dockerfile lays it out, from the same declaration, with host stand-ins
// where the stub nixpkgs cannot build. In it, as the image's USER with its
// environment, the probe checks what a service needs at run time, then CMD
// runs and answers fly.toml's health checks.
func TestImageRunsFromAnEmptyRoot(t *testing.T) {
	img, src, cfg := mustImage(t), mustServiceSource(t), mustFlyConfig(t)
	if cfg.HTTPService == nil || len(cfg.HTTPService.Checks) == 0 {
		t.Fatal("fly.toml has no [[http_service.checks]]: nothing says how Fly sees the service healthy")
	}
	r := productionRoot(t)
	root := layOut(t, r, r.Spec)
	user, _, ok := passwdEntry(r.Spec.Files["etc/passwd"], img.UID)
	if !ok {
		t.Fatalf("the Dockerfile's USER %d has no entry in the flake's etc/passwd", img.UID)
	}
	output, err := runProbe(t, root, img, user)
	if err != nil {
		t.Fatalf("in the image root, as uid %d, a service would break:\n%s", img.UID, output)
	}
	t.Logf("the probe, in the image root as uid %d:\n%s", img.UID, output)
	if program := flakePackage(t).Meta.MainProgram; path.Base(img.Cmd[0]) != program {
		t.Skipf("the Dockerfile's CMD %s is not the package's program %s: TestCmdRunsTheFlakesProgram says how to fix it", img.Cmd[0], program)
	}
	if target, err := os.Readlink(filepath.Join(root, img.Cmd[0])); err != nil || !strings.HasPrefix(target, "/nix/store/") {
		t.Fatalf("the image's CMD %s is not a link into the store in the image root (%q, %v): the flake links the package's program at bin/<mainProgram>", img.Cmd[0], target, err)
	}

	cmd, switchesUser := emptyRootCommand(t, root, img.UID, img.GID, img.Cmd)
	// Fly sets PORT only if fly.toml says so (it does not): the default must do.
	port := src.DefaultPort
	cmd.Env = []string{"HOME=" + img.Home}
	testkit.LockPort(t, port)
	if !portFree(port) {
		port = testkit.FreePort(t)
		cmd.Env = append(cmd.Env, "PORT="+port)
		t.Logf("port %s is busy on this host, so PORT=%s is set; TestOnePortEverywhere checks the default against EXPOSE", src.DefaultPort, port)
	}
	if len(cmd.Env) == 1 {
		t.Logf("PORT unset: the service must listen on its default %s", port)
	}
	started := time.Now()
	svc := startService(t, cmd, port, cfg.HTTPService.Checks[0].Path)
	t.Logf("%v answered %s %s after exec, from an empty root", img.Cmd, cfg.HTTPService.Checks[0].Path, time.Since(started).Round(time.Millisecond))

	// What Fly asks before it sends traffic: every health check answers 200.
	for _, c := range cfg.HTTPService.Checks {
		method := c.Method
		if method == "" {
			method = http.MethodGet
		}
		if status, body := svc.request(t, method, c.Path); status < 200 || status > 299 {
			t.Errorf("health check %s %s in the empty root: %d %s, want 2xx", method, c.Path, status, body)
		}
	}
	t.Logf("resident memory after serving: %s", strings.Join(procStatus(t, cmd.Process.Pid, "VmRSS:"), " "))
	if switchesUser {
		if uid := procStatus(t, cmd.Process.Pid, "Uid:")[0]; uid != fmt.Sprint(img.UID) {
			t.Errorf("the service runs as uid %s, want the Dockerfile's USER %d", uid, img.UID)
		}
	} else {
		t.Logf("not root: ran as uid %d in a user namespace that maps it to the caller", img.UID)
	}

	// Fly stops a machine with kill_signal and kills it kill_timeout later.
	sig := map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM}[cfg.KillSignal]
	if sig == 0 {
		t.Fatalf("fly.toml kill_signal %q is not SIGINT or SIGTERM", cfg.KillSignal)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if cfg.KillTimeout == nil {
		t.Skip("fly.toml has no kill_timeout, so there is no bound to drain within: TestKillSignalAndTimeoutFitTheService says how to fix it")
	}
	select {
	case err := <-svc.exited:
		svc.exited <- err
		if err != nil {
			t.Errorf("after %s the service exited with %v, want status 0\n%s", cfg.KillSignal, err, svc.output.String())
		}
	case <-time.After(cfg.KillTimeout.Duration):
		t.Errorf("the service did not exit within kill_timeout %s of %s", cfg.KillTimeout.Duration, cfg.KillSignal)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o555)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// procStatus returns the values of a /proc/<pid>/status line, such as the
// real, effective, saved and filesystem uids for "Uid:".
func procStatus(t *testing.T, pid int, key string) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && fields[0] == key {
			return fields[1:]
		}
	}
	t.Fatalf("no %s line in /proc/%d/status", key, pid)
	return nil
}
