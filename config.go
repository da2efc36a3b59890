package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/gin-gonic/gin"
)

const defaultPort = "8080"

// config is everything the service reads from its environment, read once at
// start.
type config struct {
	Port    string
	GinMode string
	Version string

	// Set by Fly.io inside a machine; empty elsewhere.
	FlyImageRef  string
	FlyMachineID string
	FlyRegion    string
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	if err := parseArgs(args, stderr); err != nil {
		return config{}, err
	}
	cfg := config{
		Port:         getenv("PORT"),
		GinMode:      getenv("GIN_MODE"),
		Version:      version,
		FlyImageRef:  getenv("FLY_IMAGE_REF"),
		FlyMachineID: getenv("FLY_MACHINE_ID"),
		FlyRegion:    getenv("FLY_REGION"),
	}
	if cfg.Port == "" {
		cfg.Port = defaultPort
	}
	port, ok := normalPort(cfg.Port)
	if !ok {
		return config{}, fmt.Errorf("invalid PORT %q: want a TCP port number from 1 to 65535; set PORT to one, or unset it to listen on %s", cfg.Port, defaultPort)
	}
	cfg.Port = port
	switch cfg.GinMode {
	case "":
		cfg.GinMode = gin.ReleaseMode
	case gin.ReleaseMode, gin.DebugMode, gin.TestMode:
	default:
		return config{}, fmt.Errorf("invalid GIN_MODE %q: want %s, %s or %s; unset it for %s", cfg.GinMode, gin.ReleaseMode, gin.DebugMode, gin.TestMode, gin.ReleaseMode)
	}
	return cfg, nil
}

// parseArgs rejects arguments: the service is configured by its environment
// only. -h prints the usage line and returns flag.ErrHelp; anything else is
// returned as one error naming the argument and the fix, for run to print.
func parseArgs(args []string, stderr io.Writer) error {
	name := "service"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the flag package's own messages would add lines
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stderr, "usage: %s (no arguments; configure with PORT, GIN_MODE; see the README)\n", name)
		return err
	case err != nil:
		return fmt.Errorf("%w: %s takes no flags or arguments; configure it with PORT and GIN_MODE (%s -h prints usage)", err, name, name)
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q: %s takes no arguments; configure it with PORT and GIN_MODE", fs.Arg(0), name)
	}
	return nil
}

// normalPort returns s as a decimal port number from 1 to 65535 without
// leading zeros ("0080" is "80"), or false if it is not one. ParseUint
// rejects signs, spaces and other bases.
func normalPort(s string) (string, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// onFly reports whether the service runs in a Fly machine, where the Fly
// proxy sets Fly-Client-IP on every request it forwards.
func (c config) onFly() bool { return c.FlyMachineID != "" }

func (c config) listenAddr() string { return net.JoinHostPort("0.0.0.0", c.Port) }
