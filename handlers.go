package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// pong is /ping's body, encoded once: /ping is the health check, the
// service's hottest path.
var pong = []byte(`{"message":"pong"}`)

func ping(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", pong)
}

type versionInfo struct {
	Version   string `json:"version"`
	ImageRef  string `json:"image_ref,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
	Region    string `json:"region,omitempty"`
}

func versionHandler(cfg config) gin.HandlerFunc {
	info := versionInfo{
		Version:   cfg.Version,
		ImageRef:  cfg.FlyImageRef,
		MachineID: cfg.FlyMachineID,
		Region:    cfg.FlyRegion,
	}
	return func(c *gin.Context) { c.JSON(http.StatusOK, info) }
}

func notFound(c *gin.Context) {
	c.JSON(http.StatusNotFound, gin.H{"error": "not found"})
}

// methodNotAllowed runs after gin has set the Allow header.
func methodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method not allowed"})
}
