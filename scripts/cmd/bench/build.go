package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

// ginDefaultMain is the program the project started from: gin.Default()
// (Logger and Recovery) answering /ping with c.JSON.
const ginDefaultMain = `package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

func main() {
	r := gin.Default()
	r.GET("/ping", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"message": "pong"})
	})
	if err := r.Run("0.0.0.0:" + os.Getenv("PORT")); err != nil {
		os.Exit(1)
	}
}
`

// goBuild runs go build in dir with the flake's flags (servicebuild's tags
// and ldflags, CGO_ENABLED=0, -trimpath), so every variant is built alike.
func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath",
		"-tags", strings.Join(servicebuild.Tags, ","),
		"-ldflags", strings.Join(servicebuild.LDFlags, " "),
		"-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s in %s: %w\n%s", pkg, dir, err, b)
	}
	return nil
}

// buildBare builds ./cmd/bench/bare from the scripts module.
func buildBare(scriptsDir, dir string) (string, error) {
	out := filepath.Join(dir, "bare")
	return out, goBuild(scriptsDir, out, "./cmd/bench/bare")
}

var moduleLine = regexp.MustCompile(`(?m)^module .*$`)

// buildGinDefault writes ginDefaultMain into a module that has the
// service's go.mod and go.sum (so the same gin and dependency versions) and
// builds it.
func buildGinDefault(repoRoot, dir string) (string, error) {
	src := filepath.Join(dir, "gindefault-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return "", err
	}
	gosum, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil {
		return "", err
	}
	files := map[string][]byte{
		"go.mod":  moduleLine.ReplaceAll(gomod, []byte("module benchgindefault")),
		"go.sum":  gosum,
		"main.go": []byte(ginDefaultMain),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "gin-default")
	return out, goBuild(src, out, ".")
}
