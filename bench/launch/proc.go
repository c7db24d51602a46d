package launch

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat. It is 100 on
// every Linux architecture Go supports; reading it would need sysconf (cgo).
const clockTicks = 100

// ReadCPUTime returns utime+stime of process pid from /proc/PID/stat. The
// figures cover every thread of the process, at a resolution of 10 ms, so
// callers measure deltas over many requests.
func ReadCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	return parseStat(b)
}

// parseStat extracts utime+stime from the contents of /proc/PID/stat.
func parseStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may contain spaces
	// or parentheses itself: fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name come field 3 (state) onwards; utime is field 14 and
	// stime field 15, so indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the name, want at least 13", len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc stat utime: %w", err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc stat stime: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// ReadPeakRSS returns the peak resident set size of process pid in bytes,
// VmHWM from /proc/PID/status.
func ReadPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak rss: %w", err)
	}
	return parseStatusKB(b, "VmHWM")
}

// parseStatusKB returns the value of a "Key:   123 kB" line of
// /proc/PID/status, in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		v = strings.TrimSpace(v)
		v = strings.TrimSuffix(v, " kB")
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc status %s: %w", key, err)
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("parse /proc status: no %s line", key)
}

// ReadRSS returns the current resident set size of process pid in bytes,
// VmRSS from /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return parseStatusKB(b, "VmRSS")
}

// ReadWait returns the time the threads of process pid have spent runnable
// but waiting for a CPU, summed over its threads (the second field of each
// /proc/PID/task/TID/schedstat). Beside the CPU time a process used, it
// says how much more it wanted: on a CPU that other processes keep busy a
// process uses little and waits long, and its figures describe the wait.
// Threads that have ended no longer count, so callers measure deltas over
// a process whose threads live on (Go's do).
func ReadWait(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu wait: %w", err)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, fmt.Errorf("parse schedstat %q: want three fields", b)
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse schedstat: %w", err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}
