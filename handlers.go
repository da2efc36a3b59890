package main

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Response bodies are fixed, so they are encoded once.
var (
	pongBody          = []byte(`{"message":"pong"}`)
	notFoundBody      = []byte(`{"error":"not found"}`)
	methodBody        = []byte(`{"error":"method not allowed"}`)
	internalErrorBody = []byte(`{"error":"internal server error"}`)
)

const jsonContentType = "application/json; charset=utf-8"

// writeJSON writes an encoded JSON body; for HEAD net/http drops the body
// and keeps the headers.
func writeJSON(c *gin.Context, status int, body []byte) {
	c.Data(status, jsonContentType, body)
}

func pingHandler() gin.HandlerFunc {
	return func(c *gin.Context) { writeJSON(c, http.StatusOK, pongBody) }
}

type versionInfo struct {
	Version   string `json:"version"`
	ImageRef  string `json:"image_ref,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
	Region    string `json:"region,omitempty"`
}

func versionHandler(cfg config) gin.HandlerFunc {
	body, err := json.Marshal(versionInfo{
		Version:   cfg.Version,
		ImageRef:  cfg.FlyImageRef,
		MachineID: cfg.FlyMachineID,
		Region:    cfg.FlyRegion,
	})
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return func(c *gin.Context) { writeJSON(c, http.StatusOK, body) }
}

func notFound(c *gin.Context) { writeJSON(c, http.StatusNotFound, notFoundBody) }

// methodNotAllowed runs after gin has set the Allow header.
func methodNotAllowed(c *gin.Context) { writeJSON(c, http.StatusMethodNotAllowed, methodBody) }
