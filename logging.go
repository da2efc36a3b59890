package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// slowRequest is the duration above which a successful request is logged.
const slowRequest = 500 * time.Millisecond

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
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
// line with the stack; the server keeps serving. http.ErrAbortHandler is
// re-raised so net/http aborts the response as the handler intended.
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
			logger.LogAttrs(c.Request.Context(), slog.LevelError, "handler panic",
				slog.String("method", c.Request.Method),
				slog.String("path", c.Request.URL.Path),
				slog.Any("panic", p),
				slog.String("stack", string(debug.Stack())),
			)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			writeJSON(c, http.StatusInternalServerError, internalErrorBody)
			c.Abort()
		}()
		c.Next()
	}
}
