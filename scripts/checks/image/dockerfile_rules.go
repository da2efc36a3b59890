package image

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

const (
	builderImage = "nixos/nix"
	builderStage = "builder"
)

var exactVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// runtimeImage is what the final stage promises: the values other checks
// compare with fly.toml, the flake and the service.
type runtimeImage struct {
	Cmd        []string // exec form
	ExposePort string
	UID, GID   int
}

// checkDockerfile returns every way d breaks the image's rules, and the
// final stage's runtime contract when that stage could be read.
func checkDockerfile(d *dockerfile) (img runtimeImage, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, w := range d.lint {
		bad("BuildKit warns: %s", w)
	}
	if len(d.stages) != 2 {
		bad("want exactly two stages (%s from %s, then scratch), found %d", builderStage, builderImage, len(d.stages))
		return img, problems
	}
	problems = append(problems, checkBuilderStage(d)...)
	img, finalProblems := checkFinalStage(d.stages[1])
	return img, append(problems, finalProblems...)
}

func checkBuilderStage(d *dockerfile) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stage := d.stages[0]
	repo, tag, _ := imageRef(stage.BaseName)
	if strings.TrimPrefix(repo, "docker.io/") != builderImage {
		bad("first stage must build FROM %s, found %q", builderImage, stage.BaseName)
	}
	if !exactVersion.MatchString(tag) {
		bad("first stage's image %q must be pinned to an exact release tag like %s:2.35.2 (not latest, not untagged)", stage.BaseName, builderImage)
	}
	if stage.Name != builderStage {
		bad("first stage must be named %q (FROM ... AS %s), found %q", builderStage, builderStage, stage.Name)
	}

	var nixBuild, copiesClosure bool
	for _, run := range commands[*instructions.RunCommand](stage) {
		if err := run.Expand(expandWord); err != nil {
			bad("RUN flags: %v", err)
		}
		for _, m := range instructions.GetMounts(run) {
			target := path.Clean(m.Target) + "/"
			if m.Type == instructions.MountTypeCache && (strings.HasPrefix("/nix/store/", target) || strings.HasPrefix(target, "/nix/store/")) {
				bad("RUN mounts a cache over %s: /nix/store must be the stage's own directory so its closure can be copied out; cache Nix's cache directory instead", m.Target)
			}
		}
		words, err := shellWords(run.CmdLine)
		if err != nil {
			bad("RUN %q: %v", strings.Join(run.CmdLine, " "), err)
			continue
		}
		for _, cmd := range simpleCommands(words) {
			switch {
			case hasPrefixWords(cmd, "nix", "build"):
				nixBuild = true
				if !hasFlag(cmd, "--extra-experimental-features", func(v ...string) bool {
					return slices.Contains(strings.Fields(v[0]), "nix-command") && slices.Contains(strings.Fields(v[0]), "flakes")
				}) {
					bad(`nix build must enable flakes: --extra-experimental-features "nix-command flakes" (the nixos/nix image does not)`)
				}
				if !hasFlag(cmd, "--option", func(v ...string) bool { return len(v) == 2 && v[0] == "filter-syscalls" && v[1] == "false" }) {
					bad("nix build must pass --option filter-syscalls false (restricted builders reject Nix's seccomp filter)")
				}
			case hasPrefixWords(cmd, "cp", "-a") && containsRun(cmd, "$(nix-store", "-qR", "result)"):
				copiesClosure = true
			}
		}
	}
	if !nixBuild {
		bad("first stage must RUN nix build")
	} else if _, problem := findToolchainStep(stage); problem != "" {
		bad("%s", problem)
	}
	if !copiesClosure {
		bad("first stage must copy the closure out: cp -a $(nix-store -qR result) <staging>/nix/store/")
	}
	return problems
}

// sourceLike reports whether a COPY source may bring in Go sources, which
// the toolchain layer must not see: the whole context, a glob, a Go file or
// testdata.
func sourceLike(src string) bool {
	src = path.Clean(src)
	return src == "." || strings.ContainsAny(src, "*?[") || strings.HasSuffix(src, ".go") ||
		src == "testdata" || strings.HasPrefix(src, "testdata/")
}

// toolchainStep is the builder stage's first nix build, which runs on the
// files the COPYs before it brought in.
type toolchainStep struct {
	Files        []string
	Installables []string
}

// findToolchainStep returns the toolchain step, or what is wrong with it.
func findToolchainStep(stage instructions.Stage) (step toolchainStep, problem string) {
	const fix = "copy only what flake.nix evaluates from (flake.nix, flake.lock, go.mod.sri, go.mod, go.sum), then RUN nix build --no-link --inputs-from . of the toolchain, before COPY . ."
	for _, c := range stage.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			step.Files = append(step.Files, c.SourcePaths...)
		case *instructions.RunCommand:
			words, err := shellWords(c.CmdLine)
			if err != nil {
				continue
			}
			for _, cmd := range simpleCommands(words) {
				if !hasPrefixWords(cmd, "nix", "build") {
					continue
				}
				step.Installables = installables(cmd[2:])
				for _, f := range step.Files {
					if sourceLike(f) {
						return step, fmt.Sprintf("the toolchain layer (the first nix build) sees %s, so a source-only change rebuilds it: %s", f, fix)
					}
				}
				for _, i := range step.Installables {
					// ".#default" is the package; ".#default.go" one of its attributes.
					if i == "." || strings.HasPrefix(i, ".#") && !strings.Contains(i[2:], ".") {
						return step, fmt.Sprintf("the first nix build builds the package (%s), so there is no toolchain layer: %s", i, fix)
					}
				}
				return step, ""
			}
		}
	}
	return step, "first stage has no toolchain layer: " + fix
}

// installables returns the non-option arguments of nix build's args.
func installables(args []string) []string {
	takesTwo := map[string]bool{"--option": true, "--arg": true, "--argstr": true, "--override-input": true}
	takesOne := map[string]bool{"--extra-experimental-features": true, "--inputs-from": true, "--out-link": true, "-o": true, "--profile": true}
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case takesTwo[a]:
			i += 2
		case takesOne[a]:
			i++
		case !strings.HasPrefix(a, "-"):
			out = append(out, a)
		}
	}
	return out
}

func checkFinalStage(stage instructions.Stage) (img runtimeImage, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if stage.BaseName != "scratch" {
		bad("final stage must be FROM scratch, found %q", stage.BaseName)
	}
	img.UID, img.GID = -1, -1
	for _, c := range stage.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != builderStage {
				bad("final stage: COPY must take the closure from the %s stage (--from=%s), found --from=%q", builderStage, builderStage, c.From)
			}
		case *instructions.UserCommand:
			img.UID, img.GID, problems = parseUser(c.User, problems)
		case *instructions.ExposeCommand:
			if len(c.Ports) != 1 || img.ExposePort != "" {
				bad("final stage must EXPOSE exactly one port, found %v", c.Ports)
				continue
			}
			img.ExposePort = strings.TrimSuffix(c.Ports[0], "/tcp")
		case *instructions.CmdCommand:
			if c.PrependShell {
				bad(`final stage: CMD must be exec form (CMD ["/path/to/program"]); scratch has no shell`)
			}
			img.Cmd = c.CmdLine
		default:
			bad("final stage: %s has no place in a scratch image of a static binary; only COPY, USER, EXPOSE and CMD", c.Name())
		}
	}
	if img.UID < 0 {
		bad("final stage must set USER to a numeric non-root uid:gid such as 65532:65532")
	}
	if img.ExposePort == "" {
		bad("final stage must EXPOSE the service's port")
	}
	if len(img.Cmd) == 0 || !path.IsAbs(img.Cmd[0]) {
		bad("final stage must have a CMD naming the program by absolute path, found %q", img.Cmd)
	}
	return img, problems
}

// parseUser accepts only numeric uid:gid: scratch has no /etc/passwd to look
// names up in.
func parseUser(spec string, problems []string) (uid, gid int, _ []string) {
	u, g, found := strings.Cut(spec, ":")
	uid, errU := strconv.Atoi(u)
	gid, errG := strconv.Atoi(g)
	switch {
	case !found || errU != nil || errG != nil:
		return -1, -1, append(problems, fmt.Sprintf("final stage: USER %q must be numeric uid:gid (scratch has no /etc/passwd), e.g. 65532:65532", spec))
	case uid == 0 || gid == 0:
		return -1, -1, append(problems, fmt.Sprintf("final stage: USER %q runs as root; use a non-root id such as 65532:65532", spec))
	}
	return uid, gid, problems
}

// shellWords splits a RUN command line into words the way BuildKit's lexer
// does (quotes removed, $(...) left as words).
func shellWords(cmdLine []string) ([]string, error) {
	return shell.NewLex('\\').ProcessWords(strings.Join(cmdLine, " "), shell.EnvsFromSlice(nil))
}

// expandWord expands a flag value as BuildKit would with no build args set.
func expandWord(word string) (string, error) {
	s, _, err := shell.NewLex('\\').ProcessWord(word, shell.EnvsFromSlice(nil))
	return s, err
}

// simpleCommands splits words at && || ; and |, dropping leading VAR=value
// assignments from each command.
func simpleCommands(words []string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range append(words, ";") {
		switch w {
		case "&&", "||", ";", "|":
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		default:
			if len(cur) == 0 && strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
				continue
			}
			cur = append(cur, w)
		}
	}
	return out
}

func hasPrefixWords(cmd []string, prefix ...string) bool {
	return len(cmd) >= len(prefix) && slices.Equal(cmd[:len(prefix)], prefix)
}

// hasFlag reports whether flag occurs in cmd with values (the next two
// words) that ok accepts.
func hasFlag(cmd []string, flag string, ok func(values ...string) bool) bool {
	for i, w := range cmd {
		if w == flag && i+1 < len(cmd) && ok(cmd[i+1:min(i+3, len(cmd))]...) {
			return true
		}
	}
	return false
}

func containsRun(cmd []string, run ...string) bool {
	for i := range cmd {
		if hasPrefixWords(cmd[i:], run...) {
			return true
		}
	}
	return false
}
