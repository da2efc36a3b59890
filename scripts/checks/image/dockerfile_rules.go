package image

import (
	"fmt"
	"path"
	"reflect"
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

// debugStage is the optional build target with a shell, for fly console.
const debugStage = "debug"

// runtimeImage is what the final stage promises: the values other checks
// compare with fly.toml, the flake and the service.
type runtimeImage struct {
	Cmd        []string // exec form
	ExposePort string
	UID, GID   int
	Home       string // ENV HOME
	From       string // the stage its root is copied from
}

// problems collects what is wrong, one sentence naming the fix each.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkDockerfile returns every way d breaks the image's rules, and the
// final stage's runtime contract when that stage could be read. The stages:
// the builder first, the production image (FROM scratch) last; between
// them, optionally, stages built on the builder and the debug target.
func checkDockerfile(d *dockerfile) (runtimeImage, []string) {
	var bad problems
	for _, w := range d.lint {
		bad.add("BuildKit warns: %s", w)
	}
	if len(d.stages) < 2 {
		bad.add("want a %s stage from %s first and the production stage FROM scratch last, found %d stage(s)", builderStage, builderImage, len(d.stages))
		return runtimeImage{}, bad
	}
	checkBuilderStage(d.stages[0], &bad)
	img := checkFinalStage(d.stages[len(d.stages)-1], "final stage", &bad)
	if img.From != "" && img.From != builderStage {
		bad.add("final stage: COPY must take the production root from the %s stage (--from=%s), found --from=%q: the default target is the image Fly deploys, never the debug root", builderStage, builderStage, img.From)
	}
	rootStages := map[string]bool{builderStage: true}
	for _, stage := range d.stages[1 : len(d.stages)-1] {
		switch stage.BaseName {
		case builderStage:
			rootStages[stage.Name] = true
			checkRootBuild(stage, &bad)
		case "scratch":
			if stage.Name != debugStage {
				bad.add("stage %q: the only FROM scratch stage before the final one is the %q target", stage.Name, debugStage)
				continue
			}
			debug := checkFinalStage(stage, "debug stage", &bad)
			if !rootStages[debug.From] {
				bad.add("debug stage: COPY --from=%q is not a stage built FROM %s", debug.From, builderStage)
			}
			debug.From = img.From
			if !reflect.DeepEqual(debug, img) {
				bad.add("debug stage must run like the final stage (same USER, ENV HOME, EXPOSE and CMD): debug %+v, final %+v", debug, img)
			}
		default:
			bad.add("stage %q is FROM %q: a stage is FROM %s (building a root) or FROM scratch (the debug target)", stage.Name, stage.BaseName, builderStage)
		}
	}
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
	if checkRootBuild(stage, bad) {
		if _, problem := findToolchainStep(stage); problem != "" {
			bad.add("%s", problem)
		}
	}
}

// checkRootBuild checks a stage's nix build runs and that the stage lays
// out the root it builds: the closure, the root's tree and its dirs
// manifest, all without naming a file of the root. It reports whether the
// stage runs nix build at all.
func checkRootBuild(stage instructions.Stage, bad *problems) bool {
	var nixBuild, copiesClosure, copiesTree, makesDirs bool
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
			case hasPrefixWords(cmd, "cp", "-a", "result/root/."):
				copiesTree = true
			case containsWords(cmd, "<", "result/dirs") && containsWords(cmd, "install", "-d"):
				makesDirs = true
			}
		}
	}
	where := fmt.Sprintf("stage %q", stage.Name)
	switch {
	case !nixBuild:
		bad.add("%s must RUN nix build of a root of the flake (.#image-root)", where)
	case !copiesClosure:
		bad.add("%s must copy the root's closure out: cp -a $(nix-store -qR result) <staging>/nix/store/", where)
	case !copiesTree:
		bad.add("%s must copy the root's tree: cp -a result/root/. <staging>/", where)
	case !makesDirs:
		bad.add("%s must make the root's directories from its manifest: while read -r mode uid gid dir; do install -d -m \"$mode\" -o \"$uid\" -g \"$gid\" \"<staging>/$dir\"; done < result/dirs", where)
	}
	return nixBuild
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

// checkFinalStage checks a FROM scratch stage that runs the service (the
// final stage, or the debug target) and returns what it promises.
func checkFinalStage(stage instructions.Stage, what string, bad *problems) (img runtimeImage) {
	if stage.BaseName != "scratch" {
		bad.add("%s must be FROM scratch, found %q", what, stage.BaseName)
	}
	img.UID, img.GID = -1, -1
	for _, c := range stage.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From == "" || img.From != "" {
				bad.add("%s: one COPY --from=<stage> of the root it builds, found COPY --from=%q", what, c.From)
			}
			img.From = c.From
		case *instructions.UserCommand:
			img.UID, img.GID = parseUser(c.User, what, bad)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				if kv.Key != "HOME" {
					bad.add("%s: ENV %s has no place in the image: its root comes from the flake, its settings from fly.toml's [env]; only HOME is set here", what, kv.Key)
				}
				img.Home = kv.Value
			}
		case *instructions.ExposeCommand:
			if len(c.Ports) != 1 || img.ExposePort != "" {
				bad.add("%s must EXPOSE exactly one port, found %v", what, c.Ports)
				continue
			}
			img.ExposePort = strings.TrimSuffix(c.Ports[0], "/tcp")
		case *instructions.CmdCommand:
			if c.PrependShell {
				bad.add(`%s: CMD must be exec form (CMD ["/path/to/program"]); the image has no shell`, what)
			}
			img.Cmd = c.CmdLine
		default:
			bad.add("%s: %s has no place in an image whose root comes from the flake; only COPY, USER, ENV HOME, EXPOSE and CMD", what, c.Name())
		}
	}
	if img.From == "" {
		bad.add("%s must COPY its root --from a stage that builds it", what)
	}
	if img.UID < 0 {
		bad.add("%s must set USER to a numeric non-root uid:gid such as 65532:65532", what)
	}
	if !path.IsAbs(img.Home) {
		bad.add("%s must set ENV HOME to the home of USER's passwd entry (an absolute path): os.UserHomeDir reads $HOME only, and Fly's init is not known to set it", what)
	}
	if img.ExposePort == "" {
		bad.add("%s must EXPOSE the service's port", what)
	}
	if len(img.Cmd) == 0 || !path.IsAbs(img.Cmd[0]) {
		bad.add("%s must have a CMD naming the program by absolute path, found %q", what, img.Cmd)
	}
	return img
}

// parseUser accepts only numeric uid:gid, which needs no /etc/passwd
// lookup by whoever starts the image.
func parseUser(spec, what string, bad *problems) (uid, gid int) {
	u, g, found := strings.Cut(spec, ":")
	uid, errU := strconv.Atoi(u)
	gid, errG := strconv.Atoi(g)
	switch {
	case !found || errU != nil || errG != nil:
		bad.add("%s: USER %q must be numeric uid:gid (the flake's /etc/passwd names it; Fly runs the image's numeric USER), e.g. 65532:65532", what, spec)
	case uid == 0 || gid == 0:
		bad.add("%s: USER %q runs as root; use a non-root id such as 65532:65532", what, spec)
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
