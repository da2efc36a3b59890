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

// problems collects what is wrong, one sentence naming the fix each.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkDockerfile returns every way d breaks the image's rules, and the
// final stage's runtime contract when that stage could be read.
func checkDockerfile(d *dockerfile) (runtimeImage, []string) {
	var bad problems
	for _, w := range d.lint {
		bad.add("BuildKit warns: %s", w)
	}
	if len(d.stages) != 2 {
		bad.add("want exactly two stages (%s from %s, then scratch), found %d", builderStage, builderImage, len(d.stages))
		return runtimeImage{}, bad
	}
	checkBuilderStage(d.stages[0], &bad)
	img := checkFinalStage(d.stages[1], &bad)
	return img, bad
}

func checkBuilderStage(stage instructions.Stage, bad *problems) {
	repo, tag := imageRef(stage.BaseName)
	if strings.TrimPrefix(repo, "docker.io/") != builderImage {
		bad.add("first stage must build FROM %s, found %q", builderImage, stage.BaseName)
	}
	if !exactVersion.MatchString(tag) {
		bad.add("first stage's image %q must be pinned to an exact release tag like %s:2.35.2 (not latest, not untagged)", stage.BaseName, builderImage)
	}
	if stage.Name != builderStage {
		bad.add("first stage must be named %q (FROM ... AS %s), found %q", builderStage, builderStage, stage.Name)
	}
	var nixBuild, copiesClosure bool
	for _, c := range stage.Commands {
		run, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		// Flags are expanded as BuildKit would with no build args set.
		if err := run.Expand(func(word string) (string, error) {
			s, _, err := shell.NewLex('\\').ProcessWord(word, shell.EnvsFromSlice(nil))
			return s, err
		}); err != nil {
			bad.add("RUN flags: %v", err)
		}
		for _, m := range instructions.GetMounts(run) {
			target := path.Clean(m.Target) + "/"
			if m.Type == instructions.MountTypeCache && (strings.HasPrefix("/nix/store/", target) || strings.HasPrefix(target, "/nix/store/")) {
				bad.add("RUN mounts a cache over %s: /nix/store must be the stage's own directory so its closure can be copied out; cache Nix's cache directory instead", m.Target)
			}
		}
		cmds, err := simpleCommands(run.CmdLine)
		if err != nil {
			bad.add("RUN %q: %v", strings.Join(run.CmdLine, " "), err)
		}
		for _, c := range cmds {
			cmd := c.words
			switch {
			case hasPrefixWords(cmd, "nix", "build"):
				nixBuild = true
				features := ""
				if i := slices.Index(cmd, "--extra-experimental-features"); i >= 0 && i+1 < len(cmd) {
					features = cmd[i+1]
				}
				if !slices.Contains(strings.Fields(features), "nix-command") || !slices.Contains(strings.Fields(features), "flakes") {
					bad.add(`nix build must enable flakes: --extra-experimental-features "nix-command flakes" (the nixos/nix image does not)`)
				}
				if !containsWords(cmd, "--option", "filter-syscalls", "false") {
					bad.add("nix build must pass --option filter-syscalls false (restricted builders reject Nix's seccomp filter)")
				}
			case hasPrefixWords(cmd, "cp", "-a") && containsWords(cmd, "$(nix-store", "-qR", "result)"):
				copiesClosure = true
			}
		}
	}
	if !nixBuild {
		bad.add("first stage must RUN nix build")
	} else if _, problem := findToolchainStep(stage); problem != "" {
		bad.add("%s", problem)
	}
	if !copiesClosure {
		bad.add("first stage must copy the closure out: cp -a $(nix-store -qR result) <staging>/nix/store/")
	}
}

// toolchainFiles are the only files the toolchain layer may see: what the
// toolchain depends on, so go.mod, go.sum, go.mod.sri and Go sources can
// change without rebuilding it.
var toolchainFiles = []string{"flake.lock", "flake.nix"} // sorted

// toolchainStep is the builder stage's first nix build, which runs on the
// files the COPYs before it brought in.
type toolchainStep struct {
	Files        []string
	Installables []string
}

// findToolchainStep returns the toolchain step, or what is wrong with it.
func findToolchainStep(stage instructions.Stage) (step toolchainStep, problem string) {
	const fix = `COPY flake.nix flake.lock ./ alone, then RUN nix build --no-link --inputs-from . of the toolchain (.#default.go, nixpkgs#stdenv...) || echo "toolchain layer: ... skipped ...", before COPY . .`
	for _, c := range stage.Commands {
		if copyCmd, ok := c.(*instructions.CopyCommand); ok {
			for _, src := range copyCmd.SourcePaths {
				step.Files = append(step.Files, path.Clean(src))
			}
		}
		run, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		cmds, _ := simpleCommands(run.CmdLine)
		i := slices.IndexFunc(cmds, func(cmd shellCommand) bool { return hasPrefixWords(cmd.words, "nix", "build") })
		if i < 0 {
			continue
		}
		step.Installables = installables(cmds[i].words[2:])
		if !slices.Equal(slices.Sorted(slices.Values(step.Files)), toolchainFiles) {
			return step, fmt.Sprintf("the toolchain layer (the first nix build) sees %s (want exactly %s, so nothing else rebuilds it): %s",
				strings.Join(step.Files, " "), strings.Join(toolchainFiles, " "), fix)
		}
		for _, i := range step.Installables {
			// ".#default" is the package; ".#default.go" one of its attributes.
			if i == "." || strings.HasPrefix(i, ".#") && !strings.Contains(i[2:], ".") {
				return step, fmt.Sprintf("the first nix build builds the package (%s), so there is no toolchain layer: %s", i, fix)
			}
		}
		// Never wrong, only slower: a toolchain step that cannot evaluate or
		// build must not stop the build, and must say it was skipped.
		if cmds[i].then != "||" || i+1 >= len(cmds) || !hasPrefixWords(cmds[i+1].words, "echo") ||
			!strings.Contains(strings.Join(cmds[i+1].words[1:], " "), "toolchain") {
			return step, "the toolchain layer's nix build must fail open with a message, so the package build fetches what it could not: " + fix
		}
		return step, ""
	}
	return step, "first stage has no toolchain layer: " + fix
}

// installables returns the non-option arguments of nix build's args.
func installables(args []string) []string {
	takesTwo := []string{"--option", "--arg", "--argstr", "--override-input"}
	takesOne := []string{"--extra-experimental-features", "--inputs-from", "--out-link", "-o", "--profile"}
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case slices.Contains(takesTwo, a):
			i += 2
		case slices.Contains(takesOne, a):
			i++
		case !strings.HasPrefix(a, "-"):
			out = append(out, a)
		}
	}
	return out
}

func checkFinalStage(stage instructions.Stage, bad *problems) (img runtimeImage) {
	if stage.BaseName != "scratch" {
		bad.add("final stage must be FROM scratch, found %q", stage.BaseName)
	}
	img.UID, img.GID = -1, -1
	for _, c := range stage.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != builderStage {
				bad.add("final stage: COPY must take the closure from the %s stage (--from=%s), found --from=%q", builderStage, builderStage, c.From)
			}
		case *instructions.UserCommand:
			img.UID, img.GID = parseUser(c.User, bad)
		case *instructions.ExposeCommand:
			if len(c.Ports) != 1 || img.ExposePort != "" {
				bad.add("final stage must EXPOSE exactly one port, found %v", c.Ports)
				continue
			}
			img.ExposePort = strings.TrimSuffix(c.Ports[0], "/tcp")
		case *instructions.CmdCommand:
			if c.PrependShell {
				bad.add(`final stage: CMD must be exec form (CMD ["/path/to/program"]); scratch has no shell`)
			}
			img.Cmd = c.CmdLine
		default:
			bad.add("final stage: %s has no place in a scratch image of a static binary; only COPY, USER, EXPOSE and CMD", c.Name())
		}
	}
	if img.UID < 0 {
		bad.add("final stage must set USER to a numeric non-root uid:gid such as 65532:65532")
	}
	if img.ExposePort == "" {
		bad.add("final stage must EXPOSE the service's port")
	}
	if len(img.Cmd) == 0 || !path.IsAbs(img.Cmd[0]) {
		bad.add("final stage must have a CMD naming the program by absolute path, found %q", img.Cmd)
	}
	return img
}

// parseUser accepts only numeric uid:gid: scratch has no /etc/passwd to look
// names up in.
func parseUser(spec string, bad *problems) (uid, gid int) {
	u, g, found := strings.Cut(spec, ":")
	uid, errU := strconv.Atoi(u)
	gid, errG := strconv.Atoi(g)
	switch {
	case !found || errU != nil || errG != nil:
		bad.add("final stage: USER %q must be numeric uid:gid (scratch has no /etc/passwd), e.g. 65532:65532", spec)
	case uid == 0 || gid == 0:
		bad.add("final stage: USER %q runs as root; use a non-root id such as 65532:65532", spec)
	default:
		return uid, gid
	}
	return -1, -1
}

// shellCommand is one simple command of a RUN line and the operator after
// it (&& || ; or |; ";" after the last).
type shellCommand struct {
	words []string
	then  string
}

// simpleCommands splits a RUN command line into words the way BuildKit's
// lexer does (quotes removed, $(...) left as words), then into commands at
// && || ; and |, dropping leading VAR=value assignments from each.
func simpleCommands(cmdLine []string) ([]shellCommand, error) {
	words, err := shell.NewLex('\\').ProcessWords(strings.Join(cmdLine, " "), shell.EnvsFromSlice(nil))
	if err != nil {
		return nil, err
	}
	var out []shellCommand
	var cur []string
	for _, w := range append(words, ";") {
		switch {
		case slices.Contains([]string{"&&", "||", ";", "|"}, w):
			if len(cur) > 0 {
				out = append(out, shellCommand{words: cur, then: w})
			}
			cur = nil
		case len(cur) > 0 || !strings.Contains(w, "=") || strings.HasPrefix(w, "-"):
			cur = append(cur, w)
		}
	}
	return out, nil
}

func hasPrefixWords(cmd []string, prefix ...string) bool {
	return len(cmd) >= len(prefix) && slices.Equal(cmd[:len(prefix)], prefix)
}

func containsWords(cmd []string, words ...string) bool {
	for i := range cmd {
		if hasPrefixWords(cmd[i:], words...) {
			return true
		}
	}
	return false
}
