package image

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestServiceSourceReadsConstsAndSignals(t *testing.T) {
	dir := t.TempDir()
	src := `package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

const defaultPort = "9090"

const shutdownTimeout = 3*time.Second + 500*time.Millisecond

func main() {
	_ = gin.New()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP, syscall.SIGTERM)
	<-ctx.Done()
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readServiceSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.DefaultPort != "9090" || got.ShutdownTimeout != 3500*time.Millisecond {
		t.Errorf("got defaultPort %q, shutdownTimeout %s; want 9090, 3.5s", got.DefaultPort, got.ShutdownTimeout)
	}
	if want := []string{"SIGINT", "SIGHUP", "SIGTERM"}; !slices.Equal(got.Signals, want) {
		t.Errorf("got signals %v, want %v", got.Signals, want)
	}
}
