package main

import (
	"log/slog"

	"github.com/gin-gonic/gin"
)

// newRouter builds the service's whole HTTP surface from the config.
func newRouter(cfg config, logger *slog.Logger) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true // 405 with Allow instead of 404
	r.RedirectTrailingSlash = false // /ping/ is an unknown path, not a redirect
	r.ForwardedByClientIP = false   // X-Forwarded-For and X-Real-IP are never trusted
	// No proxy is trusted; on Fly the proxy's Fly-Client-IP header names the
	// client, elsewhere the socket's peer address does.
	if err := r.SetTrustedProxies(nil); err != nil {
		panic(err) // nil cannot fail to parse
	}
	if cfg.onFly() {
		r.TrustedPlatform = gin.PlatformFlyIO
	}

	r.Use(accessLog(logger), recovery(logger))
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)

	r.GET("/ping", ping)
	r.HEAD("/ping", ping)
	version := versionHandler(cfg)
	r.GET("/version", version)
	r.HEAD("/version", version)
	return r
}
