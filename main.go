// Command flakeship is a small HTTP service: GET /ping answers pong and
// GET /version reports the build and the Fly machine it runs on.
package main

import (
	"context"
	"os"
)

// version is set at link time: go build -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		os.Exit(1)
	}
}
