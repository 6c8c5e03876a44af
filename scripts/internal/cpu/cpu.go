// Package cpu reads where the CPU went while a benchmark ran (Linux /proc):
// the whole machine, the driver process, and its children (the validators
// it started). The benchmark drivers in scripts/ share it.
package cpu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Snap is a reading of CPU time (Linux /proc, in clock ticks of 1/100 s):
// the whole machine, this driver, and its child processes (the validators).
type Snap struct {
	at                 time.Time
	busy, total        uint64 // all CPUs, from /proc/stat
	driver, validators uint64 // utime+stime
	ok                 bool
}

// Use is where the CPU went during a phase, in cores (1.0 = one CPU busy
// for the whole phase).
type Use struct {
	Validators float64 `json:"validators_cores"`
	Driver     float64 `json:"driver_cores"`
	Other      float64 `json:"other_processes_cores"`
	Idle       float64 `json:"idle_cores"`
}

const clockTicks = 100 // USER_HZ on Linux

// Read takes a Snap now.
func Read() Snap {
	s := Snap{at: time.Now()}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	var v [10]uint64
	for i := 1; i < len(f) && i <= 10; i++ {
		v[i-1], _ = strconv.ParseUint(f[i], 10, 64)
	}
	// user nice system idle iowait irq softirq steal (guest is in user)
	s.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	s.total = s.busy + v[3] + v[4]
	self := os.Getpid()
	_, s.driver, _ = procTimes(self)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		ppid, t, ok := procTimes(pid)
		if ok && ppid == self {
			s.validators += t
		}
	}
	s.ok = true
	return s
}

// procTimes returns a process's parent pid and utime+stime.
func procTimes(pid int) (ppid int, ticks uint64, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is state (field 3); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return ppid, u + st, true
}

// Since returns the CPU use between b (earlier) and a, in cores.
func (a Snap) Since(b Snap, cpus int) *Use {
	if !a.ok || !b.ok || a.total <= b.total {
		return nil
	}
	secs := a.at.Sub(b.at).Seconds()
	if secs <= 0 {
		return nil
	}
	cores := func(ticks uint64) float64 { return float64(ticks) / clockTicks / secs }
	busy := float64(a.busy-b.busy) / float64(a.total-b.total) * float64(cpus)
	u := &Use{Validators: cores(a.validators - b.validators), Driver: cores(a.driver - b.driver)}
	u.Other = max(0, busy-u.Validators-u.Driver)
	u.Idle = max(0, float64(cpus)-busy)
	return u
}
