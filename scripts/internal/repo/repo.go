// Package repo locates the repository from anywhere inside it.
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Root returns the repository root: SCRIPTS_REPO_ROOT when set (the
// scenario tests point the checks at an edited copy this way), else the
// nearest directory at or above the working directory that holds flake.nix
// and the service's go.mod.
func Root() (string, error) {
	if dir := os.Getenv("SCRIPTS_REPO_ROOT"); dir != "" {
		if !isRoot(dir) {
			return "", errors.New("SCRIPTS_REPO_ROOT=" + dir + " holds no flake.nix and go.mod: point it at a checkout of this repository or unset it")
		}
		return filepath.Abs(dir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the repository: no directory above the working directory holds both flake.nix and go.mod; run from the repository")
		}
		dir = parent
	}
}

func isRoot(dir string) bool {
	for _, name := range []string{"flake.nix", "go.mod"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}
