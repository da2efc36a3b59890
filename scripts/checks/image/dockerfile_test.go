package image

import (
	"os"
	"strings"
	"testing"
)

func TestDockerfileFollowsTheImageRules(t *testing.T) {
	img := mustImage(t)
	t.Logf("final stage: USER %d:%d, EXPOSE %s, CMD %q", img.UID, img.GID, img.ExposePort, img.Cmd)
}

// The rules must catch real mistakes: each case breaks the real Dockerfile
// in one way and names a word the complaint must contain.
func TestDockerfileRulesRejectBrokenCopies(t *testing.T) {
	b, err := os.ReadFile(repoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	original := string(b)
	cases := []struct {
		name, old, new, complaint string
	}{
		{"latest tag", "FROM nixos/nix:2.35.2 AS builder", "FROM nixos/nix:latest AS builder", "exact release tag"},
		{"untagged", "FROM nixos/nix:2.35.2 AS builder", "FROM nixos/nix AS builder", "exact release tag"},
		{"other image", "FROM nixos/nix:2.35.2 AS builder", "FROM debian:12.7 AS builder", "nixos/nix"},
		{"lower-case as", "FROM nixos/nix:2.35.2 AS builder", "FROM nixos/nix:2.35.2 as builder", "casing"},
		{"no flakes feature", `--extra-experimental-features "nix-command flakes"`, `--extra-experimental-features nix-command`, "flakes"},
		{"seccomp filter on", "--option filter-syscalls false", "--option filter-syscalls true", "filter-syscalls"},
		{"cache over the store", "--mount=type=cache,target=/nix-cache", "--mount=type=cache,target=/nix/store", "/nix/store"},
		{"mount typo", "--mount=type=cache,", "--mount=type=cahce,", "RUN flags"},
		{"closure not copied", "cp -a $(nix-store -qR result)", "cp -a result", "closure"},
		{"base not scratch", "FROM scratch", "FROM debian:12.7", "scratch"},
		{"root user", "USER 65532:65532", "USER 0:0", "root"},
		{"named user", "USER 65532:65532", "USER nobody", "numeric"},
		{"shell-form CMD", `CMD ["/bin/flakeship"]`, `CMD /bin/flakeship`, "exec form"},
		{"extra instruction", "USER 65532:65532", "USER 65532:65532\nENV GIN_MODE=debug", "ENV"},
		{"no EXPOSE", "EXPOSE 8080\n", "", "EXPOSE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(original, c.old) {
				t.Fatalf("the Dockerfile no longer contains %q; update this case to the new text", c.old)
			}
			d, err := parseDockerfile(strings.NewReader(strings.Replace(original, c.old, c.new, 1)), "Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			_, problems := checkDockerfile(d)
			for _, p := range problems {
				if strings.Contains(p, c.complaint) {
					return
				}
			}
			t.Errorf("replacing %q with %q: want a complaint containing %q, got %q", c.old, c.new, c.complaint, problems)
		})
	}
}
