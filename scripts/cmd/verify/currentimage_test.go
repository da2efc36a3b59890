package main

import (
	"bytes"
	"strings"
	"testing"
)

// statusJSON is shaped like `flyctl status --json` (v0.4.87): two machines
// of release 7 (one stopped by auto_stop) and one left over from release 6.
const statusJSON = `{
  "ID": "flakeship-verify-test", "Name": "flakeship-verify-test", "Deployed": true, "Status": "deployed",
  "Hostname": "flakeship-verify-test.fly.dev", "Version": 7, "AppURL": "",
  "Machines": [
    {"id": "e286065f969386", "state": "started", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "flakeship-verify-test", "tag": "git-6666666666666666666666666666666666666666", "digest": "sha256:aa"},
     "config": {"image": "registry.fly.io/flakeship-verify-test:git-6666666666666666666666666666666666666666", "metadata": {"fly_release_version": "6"}}},
    {"id": "148e21ea7e5e89", "state": "stopped", "region": "ams",
     "image_ref": {"registry": "registry.fly.io", "repository": "flakeship-verify-test", "tag": "git-7777777777777777777777777777777777777777", "digest": "sha256:bb"},
     "config": {"image": "registry.fly.io/flakeship-verify-test:git-7777777777777777777777777777777777777777", "metadata": {"fly_release_version": "7"}}}
  ]
}`

func runCurrent(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{currentImageCommand}, args...), strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestCurrentImageIsTheNewestRelease(t *testing.T) {
	code, out, stderr := runCurrent(statusJSON)
	want := "registry.fly.io/flakeship-verify-test:git-7777777777777777777777777777777777777777\n"
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
	code, _, stderr := runCurrent("Error: no access token available. Please login with 'flyctl auth login'\n")
	if code != exitFail || !strings.Contains(stderr, "stdin is not `flyctl status --json` output") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCurrent("{}", "extra"); code != exitUsage {
		t.Errorf("current-image with an argument exited %d, want %d", code, exitUsage)
	}
}
