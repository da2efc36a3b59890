package main

import (
	"context"
	"os"
	"os/user"
	"strings"
	"testing"
)

// On a full Linux host (CA roots, zoneinfo, /tmp, a passwd entry and a
// home) every probe passes; the image-root tests run it where parts lack.
func TestProbesPassOnAFullHost(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no passwd entry for this user: %v", err)
	}
	t.Setenv("HOME", u.HomeDir)
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"-user", u.Username}, nil, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	if n := strings.Count(stdout.String(), "ok "); n != len(probes(config{})) {
		t.Errorf("%d probes passed, want all %d:\n%s", n, len(probes(config{})), stdout.String())
	}
}

func TestWrongUserFails(t *testing.T) {
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"-user", "no-such-user-here"}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "user lookups would fail") {
		t.Errorf("err %v, stderr %q: want the user probe to fail naming what a service loses", err, stderr.String())
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"extra"}, nil, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("err = %v, want the usage line", err)
	}
}

func TestNonrootFailsAsRoot(t *testing.T) {
	err := notRoot()
	if os.Getuid() == 0 && err == nil {
		t.Error("notRoot passed as uid 0")
	}
	if os.Getuid() != 0 && err != nil {
		t.Errorf("notRoot failed as uid %d: %v", os.Getuid(), err)
	}
}
