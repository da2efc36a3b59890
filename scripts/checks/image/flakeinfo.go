package image

import (
	"fmt"
	"regexp"
)

// flakeProgram returns the package's pname and meta.mainProgram from
// flake.nix source. Minimal reading: each must be bound once to a plain
// string literal.
// TODO: use scripts/internal/flake once it exposes the package's attributes.
func flakeProgram(src []byte) (pname, mainProgram string, err error) {
	pname, err = uniqueStringBinding(src, "pname")
	if err != nil {
		return "", "", err
	}
	mainProgram, err = uniqueStringBinding(src, "mainProgram")
	return pname, mainProgram, err
}

func uniqueStringBinding(src []byte, name string) (string, error) {
	re := regexp.MustCompile(`(?m)^\s*(?:meta\.)?` + name + `\s*=\s*"([^"$\\]*)"\s*;`)
	m := re.FindAllSubmatch(src, -1)
	if len(m) != 1 {
		return "", fmt.Errorf("flake.nix: want exactly one `%s = \"...\";` binding, found %d", name, len(m))
	}
	return string(m[0][1]), nil
}
