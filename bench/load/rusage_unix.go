//go:build unix

package load

import (
	"syscall"
	"time"
)

// processCPU returns the user+sys CPU time this process has used so far, or
// -1 if the system will not say.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
