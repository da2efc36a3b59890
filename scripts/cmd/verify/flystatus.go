package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	currentImageCommand = "current-image"
	machinesOnCommand   = "machines-on"
)

// flyStatus is the part of `flyctl status --json` (flyctl v0.4.87,
// internal/command/status/machines.go, renderMachineJSONStatus: the app's
// active machines, as fly-go v0.9.5's Machine in machine_types.go) that tells
// which image each machine runs.
type flyStatus struct {
	Machines []flyMachine `json:"Machines"`
}

type flyMachine struct {
	ID       string `json:"id"`
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

// runStatusCommand runs current-image or machines-on on the status JSON
// read from stdin.
//
// current-image prints the image of the newest release among the app's
// machines (the rollback target), or nothing when no machine has an image
// yet (first deploy).
//
// machines-on LABEL prints the ID of every machine whose image is tagged
// LABEL and exits 0 when there is one, 1 when there is none.
func runStatusCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, args := args[0], args[1:]
	var label string
	switch {
	case name == currentImageCommand && len(args) == 0:
	case name == machinesOnCommand && len(args) == 1 && args[0] != "":
		label = args[0]
	default:
		fmt.Fprintf(stderr, "verify: %s: wrong arguments %q; it reads `flyctl status --json` on stdin\n%s\n", name, args, usageLine)
		return exitUsage
	}
	var st flyStatus
	if err := json.NewDecoder(stdin).Decode(&st); err != nil {
		fmt.Fprintf(stderr, "verify: %s: stdin is not `flyctl status --json` output: %v\n", name, err)
		return exitUsage
	}
	if name == currentImageCommand {
		if ref := currentImage(st.Machines); ref != "" {
			fmt.Fprintln(stdout, ref)
		}
		return exitOK
	}
	code := exitFail
	for _, m := range st.Machines {
		if imageTag(machineImage(m)) == label {
			fmt.Fprintln(stdout, m.ID)
			code = exitOK
		}
	}
	return code
}

// currentImage mirrors flyctl's own choice in `fly status` (the machine with
// the highest fly_release_version wins); machines without that metadata
// count as release 0, so the first listed one is used when none has it.
func currentImage(machines []flyMachine) string {
	best, bestVersion := "", -1
	for _, m := range machines {
		version := 0
		if m.Config != nil {
			version, _ = strconv.Atoi(m.Config.Metadata["fly_release_version"]) // 0 when absent
		}
		if ref := machineImage(m); ref != "" && version > bestVersion {
			best, bestVersion = ref, version
		}
	}
	return best
}

// machineImage prefers config.image, the reference flyctl deployed; the
// resolved image_ref (registry optional) is the fallback.
func machineImage(m flyMachine) string {
	r := m.ImageRef
	switch {
	case m.Config != nil && m.Config.Image != "":
		return m.Config.Image
	case r.Repository == "" || r.Tag == "":
		return ""
	}
	return strings.TrimPrefix(r.Registry+"/", "/") + r.Repository + ":" + r.Tag
}
