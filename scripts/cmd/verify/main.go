// Command verify checks that a rollout reached the service: it polls
// URL/ping and URL/version until /ping answers pong and /version names the
// expected release, or the deadline passes.
//
//	verify --url URL --expect-release LABEL [--timeout 3m]
//	verify current-image < status.json
//	verify machines-on LABEL < status.json
//	verify deploy-budget [--config fly.toml] [--deploy-script scripts/deploy]
//
// Inside GitHub Actions it writes step outputs, a job summary and ::error
// annotations; outside it prints plain text.
package main

import (
	"io"
	"os"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && (args[0] == currentImageCommand || args[0] == machinesOnCommand) {
		return runStatusCommand(args, stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == deployBudgetCommand {
		return runDeployBudget(args[1:], stdout, stderr, getenv)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return exitUsage
	}
	if cfg == nil { // -h
		return exitOK
	}
	rep := newReporter(stdout, stderr, getenv)
	rep.maskSecrets()
	res := poll(cfg, newHTTPClient())
	return rep.report(cfg, res)
}
