package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type server struct {
	name string
	cmd  *exec.Cmd
	addr string
}

// startServer execs bin listening on port, confined to cpu if cpu >= 0, and
// returns once GET /ping answers 200, with the time from exec to that first
// 200.
func startServer(name, bin string, port, procs, cpu int, env []string) (*server, time.Duration, error) {
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PORT=" + strconv.Itoa(port), "GOMAXPROCS=" + strconv.Itoa(procs)}, env...)
	cmd.Stderr = os.Stderr // stdout (the service's logs, gin's per-request lines) goes to /dev/null
	s := &server{name: name, cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port)}
	start := time.Now()
	if err := startOn(cmd, cpu); err != nil {
		return nil, 0, fmt.Errorf("starting %s: %w", name, err)
	}
	for {
		if pingOnce(s.addr) {
			return s, time.Since(start), nil
		}
		if time.Since(start) > 10*time.Second {
			s.stop()
			return nil, 0, fmt.Errorf("%s did not answer GET /ping with 200 within 10s", name)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func pingOnce(addr string) bool {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(pingRequest)); err != nil {
		return false
	}
	status, err := readResponse(bufio.NewReader(conn))
	return err == nil && status == 200
}

// stop sends SIGTERM and waits; a server that does not exit in 15 s is killed.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

type memory struct{ rssKB, hwmKB int }

// memoryOf reads VmRSS and VmHWM (peak RSS) from /proc/<pid>/status.
func memoryOf(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	return parseStatus(string(b))
}

func parseStatus(text string) (memory, error) {
	var m memory
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rssKB = n
		case "VmHWM":
			m.hwmKB = n
		}
	}
	if m.rssKB == 0 || m.hwmKB == 0 {
		return m, fmt.Errorf("no VmRSS or VmHWM in /proc status")
	}
	return m, nil
}

// cpuTime is the user+system CPU time the process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
