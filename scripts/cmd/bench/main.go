// Command bench compares the service with a bare net/http server serving
// the same bytes, on loopback, in one run: /ping throughput and p99 latency
// under load (wrk), peak RSS, and time from exec to the first 200. Run it
// through scripts/bench.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"scripts/internal/repo"
	"scripts/internal/servicebuild"
)

type options struct {
	duration       time.Duration
	rounds, starts int
	conns, threads int
	pin, strict    bool
}

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errMissed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

var errMissed = errors.New("a target was missed")

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("scripts/bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "length of each wrk run, in whole seconds")
	fs.IntVar(&o.rounds, "rounds", 7, "wrk runs per server, the order rotated each round")
	fs.IntVar(&o.conns, "conns", 32, "wrk's keep-alive connections (-c)")
	fs.IntVar(&o.threads, "threads", 1, "wrk's threads (-t)")
	fs.IntVar(&o.starts, "starts", 21, "starts per server for the exec-to-first-200 median")
	fs.BoolVar(&o.pin, "pin", false, "run wrk on CPU 0 and the servers on CPU 1")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when the service misses a target")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: scripts/bench [flags]\n\nBuilds the service as flake.nix does and a bare net/http server, loads both with wrk on loopback and prints them side by side.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; all settings are flags, see -h", fs.Arg(0))
	}
	if o.duration < time.Second || o.duration%time.Second != 0 || o.rounds < 1 || o.conns < 1 || o.threads < 1 || o.starts < 1 {
		return errors.New("-duration must be whole seconds (wrk's unit), at least 1s, and -rounds, -conns, -threads, -starts >= 1")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk not found: run inside 'nix develop' (the dev shell has it) or install it (Debian/Ubuntu: apt-get install wrk)")
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "service-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(stdout, "building the service (as flake.nix does) and the bare server ...")
	svc, bare, err := build(root, tmp)
	if err != nil {
		return err
	}
	servers := []*server{svc, bare}
	if err := measureLoad(o, wrk, tmp, servers); err != nil {
		return err
	}
	if err := measureStartup(o, servers); err != nil {
		return err
	}
	if !report(stdout, o, svc, bare) && o.strict {
		return errMissed
	}
	return nil
}

// build builds the service and the bare server with flake.nix's recipe, so
// both are compiled alike.
func build(root, dir string) (svc, bare *server, err error) {
	recipe, err := servicebuild.Load(root, "bench")
	if err != nil {
		return nil, nil, err
	}
	svc = &server{name: "service", bin: filepath.Join(dir, "service")}
	bare = &server{name: "bare", bin: filepath.Join(dir, "bare")}
	for _, b := range []struct {
		dir, pkg, out string
	}{
		{recipe.Dir, recipe.Main, svc.bin},
		{filepath.Join(root, "scripts"), "./cmd/bench/bare", bare.bin},
	} {
		if out, err := recipe.Command(b.dir, b.pkg, b.out).CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("building %s in %s: %w\n%s", b.pkg, b.dir, err, out)
		}
	}
	return svc, bare, nil
}

func measureLoad(o options, wrk, tmp string, servers []*server) error {
	script := filepath.Join(tmp, "report.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return err
	}
	serverCPU, wrkCPU := -1, -1
	if o.pin {
		serverCPU, wrkCPU = 1, 0
	}
	defer func() { // on an early return; stopping a stopped server does nothing
		for _, s := range servers {
			_ = s.stop()
		}
	}()
	for _, s := range servers {
		if _, err := s.start(serverCPU); err != nil {
			return err
		}
	}
	if err := sameResponses(servers); err != nil {
		return err
	}
	load := func(s *server, d time.Duration) (wrkResult, error) {
		r, err := runWrk(wrk, script, s.url+"/ping", o.threads, o.conns, d, wrkCPU)
		s.requests += r.requests
		return r, err
	}
	for _, s := range servers { // warm-up: connections, heap, page cache
		if _, err := load(s, time.Second); err != nil {
			return err
		}
	}
	for round := range o.rounds {
		for i := range servers {
			s := servers[(i+round)%len(servers)]
			r, err := load(s, o.duration)
			if err != nil {
				return err
			}
			s.throughputs = append(s.throughputs, r.throughput())
			s.p99s = append(s.p99s, r.p99.Seconds())
			s.failures += r.errors
		}
	}
	for _, s := range servers {
		if err := s.stop(); err != nil {
			return err
		}
		s.peakRSSKB, s.cpu = s.usage()
	}
	return nil
}

func measureStartup(o options, servers []*server) error {
	for i := range o.starts {
		for j := range servers {
			s := servers[(i+j)%len(servers)]
			took, err := s.start(-1)
			if err != nil {
				return err
			}
			if err := s.stop(); err != nil {
				return err
			}
			s.startups = append(s.startups, took.Seconds())
		}
	}
	return nil
}
