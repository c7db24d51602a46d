package launch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// RunTime returns the time the process's threads have spent on a CPU so
// far, in nanoseconds, from /proc/PID/task/*/schedstat: the figure that
// CPUTime gives in clock ticks (10 ms), fine enough to tell apart the CPU
// of a few hundred requests. Threads that have exited are no longer
// counted, which a Go program's threads rarely do. Where schedstat cannot
// be read (another OS, a kernel without it) it returns CPUTime.
func (p *Proc) RunTime() (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", p.Pid()))
	if err != nil || len(tasks) == 0 {
		return p.CPUTime()
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that exited meanwhile
		}
		d, err := parseSchedstat(b)
		if err != nil {
			return 0, fmt.Errorf("read run time of %s: %w", t, err)
		}
		total += d
	}
	return total, nil
}

// parseSchedstat returns the first field of a schedstat line: the time
// spent on a CPU, in nanoseconds.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty schedstat")
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse schedstat %q: %w", b, err)
	}
	return time.Duration(n), nil
}
