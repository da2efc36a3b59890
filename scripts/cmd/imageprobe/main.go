// Command imageprobe checks, from inside an image, what a service built on
// it would do at run time: verify a public certificate chain against the
// system CA roots (what HTTPS to a public host needs), a
// time zone with DST, a temp file, its user, group and home directory. Each
// failure says what the service would lose. Build it static (CGO_ENABLED=0)
// and run it as the image's USER, with the image's environment.
//
// Usage: imageprobe [-user NAME] [-nonroot]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "imageprobe:", err)
		os.Exit(1)
	}
}

// run parses args, runs every probe and returns an error when any failed.
func run(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	failed := 0
	for _, p := range probes(cfg) {
		if err := p.check(); err != nil {
			failed++
			fmt.Fprintf(stderr, "FAIL %s: %v\n", p.loss, err)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s\n", p.name)
	}
	if failed > 0 {
		return fmt.Errorf("%d of the image's runtime checks failed (above)", failed)
	}
	return nil
}
