package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// serve listens on the configured address and serves until ctx is done,
// then stops accepting and lets in-flight requests finish for at most drain.
func serve(ctx context.Context, cfg config, srv *http.Server, logger *slog.Logger, drain time.Duration) error {
	addr := cfg.listenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Error("listen failed", "address", addr, "error", err)
		return fmt.Errorf("listening on %s: %w; set PORT to a free port", addr, err)
	}
	return serveOn(ctx, ln, cfg, srv, logger, drain)
}

// serveOn is serve on a listener that is already open; it closes ln. It
// stops on SIGINT or SIGTERM as well as when ctx is done.
func serveOn(ctx context.Context, ln net.Listener, cfg config, srv *http.Server, logger *slog.Logger, drain time.Duration) error {
	addr := cfg.listenAddr()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Signals are taken over once the server serves: registering them before
	// the listener opened delayed the first response by about 0.8 ms
	// (scripts/bench), and a signal that comes sooner ends the process by
	// default, before it has answered anything.
	ctx, stopSignals := withShutdownSignal(ctx)
	defer stopSignals()
	logger.Info("server started", "address", addr, "listener", ln.Addr().String(), "version", cfg.Version)

	select {
	case err := <-served:
		logger.Error("server failed", "error", err)
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}

	logger.Info("server stopping", "reason", context.Cause(ctx).Error(), "drain_timeout", drain.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			logger.Error("drain incomplete, connections closed", "error", err)
			return fmt.Errorf("stopping the server: in-flight requests did not finish within %s: %w", drain, err)
		}
		logger.Error("shutdown failed, connections closed", "error", err)
		return fmt.Errorf("stopping the server: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", addr, err)
	}
	logger.Info("server stopped")
	return nil
}
