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

// contentTypeJSON is shared by every response's header map; net/http only
// reads it, and Header().Set or Add would replace or copy it, never modify it.
var contentTypeJSON = []string{jsonContentType}

// writeJSON writes an encoded JSON body without allocating (gin's c.Data
// allocates the header value and the renderer). For HEAD, net/http drops
// the body and keeps the headers, Content-Length included.
func writeJSON(c *gin.Context, status int, body []byte) {
	c.Writer.Header()["Content-Type"] = contentTypeJSON
	c.Writer.WriteHeader(status)
	_, _ = c.Writer.Write(body)
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
