package flake

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Lock is flake.lock.
type Lock struct {
	Nodes   map[string]LockNode `json:"nodes"`
	Root    string              `json:"root"`
	Version int                 `json:"version"`
}

// LockNode is one node of flake.lock.
type LockNode struct {
	Inputs   map[string]string `json:"inputs,omitempty"`
	Locked   *LockedRef        `json:"locked,omitempty"`
	Original *OriginalRef      `json:"original,omitempty"`
}

// LockedRef is a node's locked source.
type LockedRef struct {
	LastModified int64  `json:"lastModified"`
	NarHash      string `json:"narHash"`
	Owner        string `json:"owner"`
	Repo         string `json:"repo"`
	Rev          string `json:"rev"`
	Type         string `json:"type"`
}

// OriginalRef is the input reference as written in flake.nix.
type OriginalRef struct {
	Owner string `json:"owner"`
	Ref   string `json:"ref,omitempty"`
	Repo  string `json:"repo"`
	Type  string `json:"type"`
}

// ReadLock parses root/flake.lock, rejecting unknown fields.
func ReadLock(root string) (*Lock, error) {
	f, err := os.Open(filepath.Join(root, "flake.lock"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var lock Lock
	if err := dec.Decode(&lock); err != nil {
		return nil, fmt.Errorf("flake.lock: %w", err)
	}
	return &lock, nil
}
