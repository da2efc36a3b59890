package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// slowRequest is the duration above which a successful request is logged.
const slowRequest = 500 * time.Millisecond

func newLeveledLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// gin prints its debug output (GIN_MODE=debug only) as text to os.Stdout;
// send it to the default slog logger instead, which run sets to the
// service's JSON logger, so stdout stays JSON lines in every mode.
func init() {
	gin.DebugPrintFunc = func(format string, values ...any) {
		slog.Debug(strings.TrimSpace(fmt.Sprintf(format, values...)), "component", "gin")
	}
	gin.DebugPrintRouteFunc = func(method, path, handler string, handlers int) {
		slog.Debug("route", "component", "gin", "method", method, "path", path, "handler", handler, "handlers", handlers)
	}
}

// accessLog logs only the requests worth reading: 4xx (info), 5xx (error)
// and slow ones (warn). Fast successes, which are almost all health checks
// on /ping, cost two clock reads and no allocation.
func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)
		status := c.Writer.Status()
		var level slog.Level
		switch {
		case status >= http.StatusInternalServerError:
			level = slog.LevelError
		case status >= http.StatusBadRequest:
			level = slog.LevelInfo
		case elapsed >= slowRequest:
			level = slog.LevelWarn
		default:
			return
		}
		logger.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("client_ip", c.ClientIP()),
		)
	}
}

// recovery turns a handler panic into a 500 JSON response and an error log
// line with the stack; the server keeps serving. If the response has already
// started, a 500 can no longer be sent, so the panic is logged and the
// response aborted with http.ErrAbortHandler: net/http then resets the
// connection and the client sees a broken response, not a short one that
// looks complete. http.ErrAbortHandler from the handler is re-raised as is.
func recovery(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			started := c.Writer.Written()
			logger.LogAttrs(c.Request.Context(), slog.LevelError, "handler panic",
				slog.String("method", c.Request.Method),
				slog.String("path", c.Request.URL.Path),
				slog.Any("panic", p),
				slog.Bool("response_started", started),
				slog.String("stack", string(debug.Stack())),
			)
			if started {
				panic(http.ErrAbortHandler)
			}
			// Headers the handler set (Content-Length, Content-Encoding...)
			// would not describe the error body.
			clear(c.Writer.Header())
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal server error"})
		}()
		c.Next()
	}
}
