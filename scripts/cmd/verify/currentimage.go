package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

const currentImageCommand = "current-image"

// flyStatus is the part of `flyctl status --json` (flyctl v0.4.87,
// internal/command/status/machines.go; machine fields from fly-go) that
// tells which image is serving.
type flyStatus struct {
	Machines []flyMachine `json:"Machines"`
}

type flyMachine struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	ImageRef struct {
		Registry   string `json:"registry"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	} `json:"image_ref"`
	Config *struct {
		Image    string            `json:"image"`
		Metadata map[string]string `json:"metadata"`
	} `json:"config"`
}

// runCurrentImage prints the image of the newest release among the app's
// machines (the rollback target), or nothing when the app has no machine
// with an image yet (first deploy).
func runCurrentImage(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "verify: current-image takes no arguments, it reads `flyctl status --json` on stdin\n%s\n", usageLine)
		return exitUsage
	}
	var st flyStatus
	if err := json.NewDecoder(stdin).Decode(&st); err != nil {
		fmt.Fprintf(stderr, "verify: current-image: stdin is not `flyctl status --json` output: %v\n", err)
		return exitFail
	}
	if ref := currentImage(st.Machines); ref != "" {
		fmt.Fprintln(stdout, ref)
	}
	return exitOK
}

// currentImage mirrors flyctl's own choice in `fly status` (the machine with
// the highest fly_release_version wins); machines without that metadata
// count as release 0, so the first listed one is used when none has it.
func currentImage(machines []flyMachine) string {
	best, bestVersion := "", -1
	for _, m := range machines {
		ref := machineImage(m)
		if ref == "" {
			continue
		}
		version := 0
		if m.Config != nil {
			if v, err := strconv.Atoi(m.Config.Metadata["fly_release_version"]); err == nil {
				version = v
			}
		}
		if version > bestVersion {
			best, bestVersion = ref, version
		}
	}
	return best
}

// machineImage prefers config.image, the reference flyctl deployed; the
// resolved image_ref is the fallback.
func machineImage(m flyMachine) string {
	if m.Config != nil && m.Config.Image != "" {
		return m.Config.Image
	}
	r := m.ImageRef
	if r.Repository == "" || r.Tag == "" {
		return ""
	}
	if r.Registry == "" {
		return r.Repository + ":" + r.Tag
	}
	return r.Registry + "/" + r.Repository + ":" + r.Tag
}
