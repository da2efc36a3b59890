package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// cpuMask is a Linux cpu_set_t for up to 1024 CPUs.
type cpuMask [16]uint64

func maskOf(cpu int) cpuMask {
	var m cpuMask
	m[cpu/64] |= 1 << (cpu % 64)
	return m
}

// setAffinity and getAffinity wrap sched_setaffinity(2) and
// sched_getaffinity(2) for one thread (tid 0: the calling thread).
func setAffinity(tid int, m cpuMask) error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if errno != 0 {
		return fmt.Errorf("sched_setaffinity(%d): %w", tid, errno)
	}
	return nil
}

func getAffinity(tid int) (cpuMask, error) {
	var m cpuMask
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if errno != 0 {
		return m, fmt.Errorf("sched_getaffinity(%d): %w", tid, errno)
	}
	return m, nil
}

// pinSelf moves every thread of this process to cpu; threads the Go runtime
// starts later inherit the mask from the thread that creates them.
func pinSelf(cpu int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := setAffinity(tid, maskOf(cpu)); err != nil {
			return err
		}
	}
	return nil
}

// startOn starts cmd confined to cpu from its first instruction: the child
// inherits the affinity of the thread that forks it, so that thread is
// switched to cpu for the fork and back afterwards. cpu < 0 starts cmd
// normally.
func startOn(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := getAffinity(0)
	if err != nil {
		return err
	}
	if err := setAffinity(0, maskOf(cpu)); err != nil {
		return err
	}
	startErr := cmd.Start()
	if err := setAffinity(0, old); err != nil {
		return err
	}
	return startErr
}
