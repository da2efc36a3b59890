package main

import (
	"bytes"
	"strings"
	"testing"
)

// statusJSON is shaped like `flyctl status --json` (v0.4.87): two machines
// of release 7 (one stopped by auto_stop) and one left over from release 6.
const statusJSON = `{
  "ID": "verify-test-app", "Name": "verify-test-app", "Deployed": true, "Status": "deployed",
  "Hostname": "verify-test-app.fly.dev", "Version": 7, "AppURL": "",
  "Machines": [
    {"id": "e286065f969386", "state": "started", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "verify-test-app", "tag": "git-6666666666666666666666666666666666666666", "digest": "sha256:aa"},
     "config": {"image": "registry.fly.io/verify-test-app:git-6666666666666666666666666666666666666666", "metadata": {"fly_release_version": "6"}}},
    {"id": "148e21ea7e5e89", "state": "stopped", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "verify-test-app", "tag": "git-7777777777777777777777777777777777777777", "digest": "sha256:bb"},
     "config": {"image": "registry.fly.io/verify-test-app:git-7777777777777777777777777777777777777777", "metadata": {"fly_release_version": "7"}}}
  ]
}`

func runCurrent(stdin string, args ...string) (code int, stdout, stderr string) {
	return runStatus(stdin, append([]string{currentImageCommand}, args...)...)
}

func runStatus(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestCurrentImageIsTheNewestRelease(t *testing.T) {
	code, out, stderr := runCurrent(statusJSON)
	want := "registry.fly.io/verify-test-app:git-7777777777777777777777777777777777777777\n"
	if code != exitOK || out != want {
		t.Errorf("current-image = %q (exit %d, stderr %q), want %q", out, code, stderr, want)
	}
}

func TestCurrentImageFallsBackToImageRef(t *testing.T) {
	in := `{"Machines": [{"id": "1", "image_ref": {"registry": "registry.fly.io", "repository": "a", "tag": "deployment-01J"}}]}`
	if code, out, _ := runCurrent(in); code != exitOK || out != "registry.fly.io/a:deployment-01J\n" {
		t.Errorf("current-image = %q (exit %d), want the image_ref", out, code)
	}
}

func TestCurrentImageOfAnAppWithoutMachinesIsEmpty(t *testing.T) {
	for _, in := range []string{`{"Name": "a", "Machines": []}`, `{"Name": "a", "Machines": null}`} {
		if code, out, _ := runCurrent(in); code != exitOK || out != "" {
			t.Errorf("current-image of %s = %q (exit %d), want nothing and exit 0", in, out, code)
		}
	}
}

func TestCurrentImageRejectsWhatIsNotStatusJSON(t *testing.T) {
	for _, cmd := range [][]string{{currentImageCommand}, {machinesOnCommand, "git-1"}} {
		code, _, stderr := runStatus("Error: no access token available. Please login with 'flyctl auth login'\n", cmd...)
		if code != exitUsage || !strings.Contains(stderr, "stdin is not `flyctl status --json` output") {
			t.Errorf("%s: exit %d, stderr %q; want %d naming the bad input", cmd[0], code, stderr, exitUsage)
		}
	}
	for _, args := range [][]string{{currentImageCommand, "extra"}, {machinesOnCommand}, {machinesOnCommand, ""}, {machinesOnCommand, "a", "b"}} {
		if code, _, _ := runStatus("{}", args...); code != exitUsage {
			t.Errorf("%q exited %d, want %d", args, code, exitUsage)
		}
	}
}

func TestMachinesOnListsTheMachinesOfARelease(t *testing.T) {
	label := "git-7777777777777777777777777777777777777777"
	code, out, stderr := runStatus(statusJSON, machinesOnCommand, label)
	if code != exitOK || out != "148e21ea7e5e89\n" {
		t.Errorf("machines-on %s = %q (exit %d, stderr %q), want the one machine of that release and exit 0", label, out, code, stderr)
	}
	if code, out, _ := runStatus(statusJSON, machinesOnCommand, "git-7"); code != exitFail || out != "" {
		t.Errorf("machines-on git-7 = %q (exit %d): a tag prefix matched; want nothing and exit 1", out, code)
	}
	if code, out, _ := runStatus(`{"Machines": []}`, machinesOnCommand, label); code != exitFail || out != "" {
		t.Errorf("machines-on without machines = %q (exit %d), want nothing and exit 1", out, code)
	}
}

func TestImageTag(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.fly.io/a:git-1":                "git-1",
		"registry.fly.io/a:git-1@sha256:ab":      "git-1",
		"localhost:5000/a":                       "",
		"localhost:5000/a:deployment-01J@sha256": "deployment-01J",
		"":                                       "",
	} {
		if got := imageTag(ref); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", ref, got, want)
		}
	}
}
