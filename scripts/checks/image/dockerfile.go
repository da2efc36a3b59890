package image

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is a Dockerfile as BuildKit reads it.
type dockerfile struct {
	ast    *parser.Node
	stages []instructions.Stage
	// lint holds BuildKit's warnings: the parser's and the lint rules that
	// run while instructions are parsed (FromAsCasing, StageNameCasing...).
	lint []string
}

func readDockerfile(path string) (*dockerfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseDockerfile(f, path)
}

func parseDockerfile(r io.Reader, name string) (*dockerfile, error) {
	res, err := parser.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	d := &dockerfile{ast: res.AST}
	for _, w := range res.Warnings {
		d.lint = append(d.lint, fmt.Sprintf("%s: %s", name, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		d.lint = append(d.lint, fmt.Sprintf("%s:%d: %s: %s", name, line, rule, msg))
	}})
	d.stages, _, err = instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, fmt.Errorf("parsing the instructions of %s: %w", name, err)
	}
	return d, nil
}

// imageRef splits a FROM image like nixos/nix:2.35.2 (or
// nixos/nix:2.35.2@sha256:...) into its repository and tag.
func imageRef(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
