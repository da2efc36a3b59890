package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// withShutdownSignal returns a context that is cancelled by the first SIGINT
// or SIGTERM, with the cause "<signal> signal received". After that first
// signal the handler is removed, so a second one gets the default behaviour
// (the process exits at once). stop releases the handler.
func withShutdownSignal(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	received := make(chan os.Signal, 1)
	signal.Notify(received, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-received:
			signal.Stop(received)
			cancel(fmt.Errorf("%v signal received", sig))
		case <-ctx.Done():
			signal.Stop(received)
		}
	}()
	return ctx, func() {
		cancel(nil)
		<-done
	}
}
