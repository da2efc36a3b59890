// Command bench compares the service with a bare net/http server serving
// the same bytes, on loopback, in one run: /ping throughput and p99
// latency under load, RSS after the load, and time from exec to the first
// 200. Run it through scripts/bench.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/flakeship/flakeship/scripts/internal/repo"
	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

type options struct {
	duration    time.Duration
	rounds      int
	conns       int
	starts      int
	loadProcs   int
	serverProcs int
	ginDefault  bool
	pin         bool
	strict      bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", time.Second, "length of each load round per server")
	flag.IntVar(&o.rounds, "rounds", 11, "load rounds per server, interleaved across servers")
	flag.IntVar(&o.conns, "conns", 32, "concurrent keep-alive connections")
	flag.IntVar(&o.starts, "starts", 21, "starts per server for the exec-to-first-200 median")
	flag.IntVar(&o.loadProcs, "load-procs", 1, "GOMAXPROCS of the load generator (this process)")
	flag.IntVar(&o.serverProcs, "server-procs", runtime.NumCPU(), "GOMAXPROCS of each server process")
	flag.BoolVar(&o.ginDefault, "gin-default", true, "also measure gin.Default() with its request logger")
	flag.BoolVar(&o.pin, "pin", false, "run the load generator on CPU 0 and the servers on CPU 1 during the load rounds")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 when the service misses a target")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: scripts/bench [flags]\n\nBuilds the service like the flake and a bare net/http server, loads both on loopback and prints them side by side.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q; all settings are flags, see -h\n", flag.Arg(0))
		os.Exit(2)
	}
	if o.duration <= 0 || o.rounds < 1 || o.conns < 1 || o.starts < 1 || o.loadProcs < 1 || o.serverProcs < 1 {
		fmt.Fprintln(os.Stderr, "bench: bad arguments: -duration must be > 0 and -rounds, -conns, -starts, -load-procs, -server-procs >= 1")
		os.Exit(2)
	}
	missed, err := bench(o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if missed && o.strict {
		os.Exit(1)
	}
}

type variant struct {
	name string
	bin  string
	env  []string
	srv  *server
	res  result
}

// result holds one sample per round (index = round) and per start.
type result struct {
	throughputs []float64 // 200s per second
	p99s        []float64 // seconds
	cpuPerReq   []float64 // server CPU seconds per request
	cpuShare    []float64 // server CPU time / wall time
	loadShare   []float64 // the load generator's CPU time / wall time
	startups    []float64 // seconds from exec to the first 200
	failures    uint64
	mem         memory
}

func bench(o options, out io.Writer) (missed bool, err error) {
	root, err := repo.Root()
	if err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp("", "flakeship-bench-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(out, "building service (servicebuild.Build), bare and gin.Default variants ...")
	svcBin, err := servicebuild.Build(root, tmp, "flakeship", "bench")
	if err != nil {
		return false, err
	}
	bareBin, err := buildBare(filepath.Join(root, "scripts"), tmp)
	if err != nil {
		return false, err
	}
	variants := []*variant{
		{name: "service", bin: svcBin},
		{name: "bare", bin: bareBin},
	}
	if o.ginDefault {
		ginBin, err := buildGinDefault(root, tmp)
		if err != nil {
			return false, err
		}
		variants = append(variants, &variant{name: "gin.Default", bin: ginBin, env: []string{"GIN_MODE=release"}})
	}

	runtime.GOMAXPROCS(o.loadProcs)
	if o.pin {
		if err := pinSelf(0); err != nil {
			return false, fmt.Errorf("pinning the load generator to CPU 0: %w (use -pin=false)", err)
		}
	}
	if err := measureLoad(o, variants); err != nil {
		return false, err
	}
	if err := measureStartup(o, variants); err != nil {
		return false, err
	}
	return report(out, o, variants), nil
}

func measureLoad(o options, variants []*variant) error {
	for _, v := range variants {
		port, err := freePort()
		if err != nil {
			return err
		}
		serverCPU := -1
		if o.pin {
			serverCPU = 1
		}
		v.srv, _, err = startServer(v.name, v.bin, port, o.serverProcs, serverCPU, v.env)
		if err != nil {
			return err
		}
		defer v.srv.stop()
	}
	if err := sameResponses(variants); err != nil {
		return err
	}
	for _, v := range variants { // warm-up: connections, heap, page cache
		runLoad(v.srv.addr, o.conns, min(o.duration, time.Second))
	}
	for round := range o.rounds {
		for i := range variants {
			v := variants[(i+round)%len(variants)] // rotate the order every round
			pid := v.srv.cmd.Process.Pid
			cpu0, err := cpuTime(pid)
			if err != nil {
				return err
			}
			self0, err := cpuTime(os.Getpid())
			if err != nil {
				return err
			}
			r := runLoad(v.srv.addr, o.conns, o.duration)
			cpu1, err := cpuTime(pid)
			if err != nil {
				return err
			}
			self1, err := cpuTime(os.Getpid())
			if err != nil {
				return err
			}
			v.res.loadShare = append(v.res.loadShare, float64(self1-self0)/float64(r.elapsed))
			if r.requests == 0 {
				return fmt.Errorf("%s answered no request in round %d: %w", v.name, round+1, r.firstErr)
			}
			v.res.throughputs = append(v.res.throughputs, r.throughput())
			v.res.p99s = append(v.res.p99s, r.hist.quantile(0.99).Seconds())
			v.res.cpuPerReq = append(v.res.cpuPerReq, (cpu1-cpu0).Seconds()/float64(r.requests))
			v.res.cpuShare = append(v.res.cpuShare, float64(cpu1-cpu0)/float64(r.elapsed))
			v.res.failures += r.failures
		}
	}
	for _, v := range variants {
		m, err := memoryOf(v.srv.cmd.Process.Pid)
		if err != nil {
			return err
		}
		v.res.mem = m
	}
	return nil
}

// sameResponses checks that every variant answers GET /ping with the same
// status, Content-Type, Content-Length and body, so the comparison is fair.
func sameResponses(variants []*variant) error {
	var want string
	for _, v := range variants {
		resp, err := http.Get("http://" + v.srv.addr + "/ping")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		got := fmt.Sprintf("%d|%s|%s|%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), body)
		if want == "" {
			want = got
		} else if got != want {
			return fmt.Errorf("%s answers GET /ping with %q, %s with %q: the variants must serve the same bytes", v.name, got, variants[0].name, want)
		}
	}
	return nil
}

func measureStartup(o options, variants []*variant) error {
	for i := range o.starts {
		for j := range variants {
			v := variants[(i+j)%len(variants)]
			port, err := freePort()
			if err != nil {
				return err
			}
			srv, took, err := startServer(v.name, v.bin, port, o.serverProcs, -1, v.env)
			if err != nil {
				return err
			}
			srv.stop()
			v.res.startups = append(v.res.startups, took.Seconds())
		}
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
