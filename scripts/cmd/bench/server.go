package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// server is one program under test and what was measured of it.
type server struct {
	name, bin string
	url       string
	cmd       *exec.Cmd

	throughputs []float64 // 200s per second, one per round
	p99s        []float64 // seconds, one per round
	startups    []float64 // seconds from exec to the first 200, one per start
	failures    int64
	requests    int64 // every request wrk sent it, warm-up included
	peakRSSKB   int64
	cpu         time.Duration // user + system time of the whole run
}

var pingClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// start execs the server on a free port, confined to cpu if cpu >= 0, and
// returns once GET /ping answers 200, with the time from exec to that
// answer. Its stdout (the service's logs) is discarded.
func (s *server) start(cpu int) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	s.url = "http://127.0.0.1:" + port
	s.cmd = exec.Command(s.bin)
	s.cmd.Env = []string{"PORT=" + port}
	s.cmd.Stderr = os.Stderr
	begin := time.Now()
	if err := startOn(s.cmd, cpu); err != nil {
		return 0, fmt.Errorf("starting %s: %w", s.name, err)
	}
	for time.Since(begin) < 10*time.Second {
		if resp, err := pingClient.Get(s.url + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(begin), nil
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	_ = s.stop()
	return 0, fmt.Errorf("%s did not answer GET /ping with 200 within 10s (the bench loads the template's /ping: if the service no longer has it, adapt cmd/bench and cmd/bench/bare to a route it has)", s.name)
}

// stop sends SIGTERM and waits for the exit (status 0, or the signal's
// default action: the bare server does not catch it); a server that has
// not exited after 15 s is killed. Stopping a stopped server does nothing.
func (s *server) stop() error {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.AfterFunc(15*time.Second, func() { _ = s.cmd.Process.Kill() })
	defer timer.Stop()
	err := s.cmd.Wait()
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s did not exit cleanly on SIGTERM: %w", s.name, err)
	}
	return nil
}

// usage is the peak resident set (getrusage ru_maxrss, in KiB on Linux)
// and the CPU time of the last run, from the kernel's accounting of the
// exited process.
func (s *server) usage() (peakRSSKB int64, cpu time.Duration) {
	if ru, ok := s.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return 0, 0
}

// sameResponses checks that every server answers GET /ping with the same
// status, Content-Type, Content-Length and body, so the comparison is fair.
func sameResponses(servers []*server) error {
	var want string
	for _, s := range servers {
		resp, err := pingClient.Get(s.url + "/ping")
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
			return fmt.Errorf("%s answers GET /ping with %q, %s with %q: they must serve the same bytes", s.name, got, servers[0].name, want)
		}
	}
	return nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return "", errors.New("not a TCP address")
	}
	return strconv.Itoa(addr.Port), nil
}

// cpuPerRequest is the run's CPU time over the requests it served, in seconds.
func (s *server) cpuPerRequest() float64 {
	if s.requests == 0 {
		return 0
	}
	return s.cpu.Seconds() / float64(s.requests)
}
