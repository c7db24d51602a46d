//go:build !linux

package launch

import (
	"errors"
	"os/exec"
	"runtime"
)

// errNoAffinity says that this system gives no CPU affinity to set.
var errNoAffinity = errors.New("CPU affinity is only set on Linux")

// AvailableCPUs returns CPUs 0 to runtime.NumCPU()-1: without affinity,
// the bench may use them all.
func AvailableCPUs() ([]int, error) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, nil
}

// PinProcess fails: processes are only pinned on Linux, and the harness
// then runs unsplit.
func PinProcess([]int) (func() error, error) { return nil, errNoAffinity }

// ThreadCPUs fails: affinity is only read on Linux.
func ThreadCPUs(int) (map[int][]int, error) { return nil, errNoAffinity }

// startOn starts cmd: without affinity, on every CPU.
func startOn(cmd *exec.Cmd, _ []int) error { return cmd.Start() }
