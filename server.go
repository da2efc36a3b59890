package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds the drain after SIGINT or SIGTERM: in-flight
// requests get this long to finish before their connections are closed.
// fly.toml's kill_timeout must be longer.
const shutdownTimeout = 10 * time.Second

const (
	readHeaderTimeout = 5 * time.Second  // a client sending headers slowly is cut off
	readTimeout       = 10 * time.Second // whole request, headers and body
	writeTimeout      = 10 * time.Second // from end of headers to end of response
	idleTimeout       = 60 * time.Second // keep-alive connection between requests
	maxHeaderBytes    = 16 << 10         // larger request headers get 431
)

func newServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve listens on the configured address and serves until ctx is done or
// SIGINT or SIGTERM arrives, then drains (see shutdown).
func serve(ctx context.Context, cfg config, srv *http.Server, logger *slog.Logger) error {
	addr := cfg.listenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("listen failed", "address", addr, "error", err)
		return fmt.Errorf("listening on %s: %w; set PORT to a free port", addr, err)
	}
	// Signals are taken over once the listener is open, before the first
	// request can be answered: registering them before net.Listen delayed the
	// first response by about 0.8 ms (scripts/bench); registering them after
	// Serve started let a signal right after an answered request end the
	// process without a drain. A signal before this line ends the process by
	// default, before it has answered anything.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("server started", "address", addr, "listener", ln.Addr().String(), "version", cfg.Version)

	select {
	case err := <-served:
		logger.Error("server failed", "error", err)
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	// From here a second signal gets the default behaviour: the process
	// ends at once instead of waiting for the drain.
	stopSignals()
	logger.Info("server stopping", "reason", context.Cause(ctx).Error(), "drain_timeout", shutdownTimeout.String())
	if err := shutdown(srv, shutdownTimeout, logger); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", addr, err)
	}
	logger.Info("server stopped")
	return nil
}

// shutdown stops accepting and lets in-flight requests finish for at most
// drain, then closes whatever connections are left.
func shutdown(srv *http.Server, drain time.Duration, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err == nil {
		return nil
	}
	_ = srv.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		logger.Error("drain incomplete, connections closed", "error", err)
		return fmt.Errorf("stopping the server: in-flight requests did not finish within %s: %w", drain, err)
	}
	logger.Error("shutdown failed, connections closed", "error", err)
	return fmt.Errorf("stopping the server: %w", err)
}
