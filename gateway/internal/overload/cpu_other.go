//go:build !unix

package overload

import "time"

// processCPU cannot tell the process's CPU time here: the run-queue
// latency alone then says whether the gateway is saturated.
func processCPU() (time.Duration, bool) { return 0, false }
