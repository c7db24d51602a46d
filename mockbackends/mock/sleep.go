package mock

import (
	"runtime"
	"slices"
	"sync"
	"time"
)

// A timer wakes a sleeping goroutine late: on Linux by about 0.25 ms, more
// under load. Sleeping that much less keeps the delivered latency's median
// on the model instead of a quarter millisecond above it. The bias is
// measured once per process.
var (
	biasOnce  sync.Once
	sleepBias time.Duration
)

// maxBias caps the correction so that a slow start-up (a loaded machine)
// cannot make every delay much too short.
const maxBias = 400 * time.Microsecond

func calibrate() {
	biasOnce.Do(func() {
		const n = 15
		over := make([]time.Duration, n)
		for i := range over {
			start := time.Now()
			time.Sleep(time.Millisecond)
			over[i] = time.Since(start) - time.Millisecond
		}
		slices.Sort(over)
		sleepBias = min(max(over[n/2], 0), maxBias)
	})
}

// sleepUntil returns at deadline, as close as timers allow. Waits shorter
// than the timer's lateness yield the processor in a loop instead: they
// cost at most that lateness in CPU and keep sub-millisecond models honest.
func sleepUntil(deadline time.Time) {
	d := time.Until(deadline)
	if d <= 0 {
		return
	}
	if d > sleepBias {
		time.Sleep(d - sleepBias)
		return
	}
	for time.Now().Before(deadline) {
		runtime.Gosched()
	}
}
