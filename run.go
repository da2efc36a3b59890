package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gin-gonic/gin"
)

// run is the whole program; main only supplies the process's environment.
// Errors are written to stderr as one line and returned.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if err != nil {
			fmt.Fprintln(stderr, oneLine(err.Error()))
		}
	}()
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.GinMode == gin.DebugMode {
		level = slog.LevelDebug
	}
	logger := newLeveledLogger(stdout, level)
	slog.SetDefault(logger) // also turns stray log.Printf calls into JSON lines
	gin.SetMode(cfg.GinMode)
	return serve(ctx, cfg, newServer(newRouter(cfg, logger), logger), logger)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
