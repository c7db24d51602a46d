package assembly

import (
	"context"
	"crypto/sha256"
	"io"
	"runtime"
	"time"

	"fanout/gateway/fanout"
)

// workSlice is the bytes hashed between two yields of the processor: a few
// tens of microseconds, about what a gateway computes between two reads or
// writes, so that other requests' goroutines interleave with the work as
// they would with real work, instead of waiting for a whole request's.
const workSlice = 32 << 10

// workBlock is what every slice hashes: zeros, as the content does not
// change what hashing costs.
var workBlock [workSlice]byte

// workExecutor spends a fixed CPU time on each request before running its
// plan with the executor it wraps: the -work lab setting. The time is
// fixed as a count of slices, measured once when it is built, so that a
// busy machine makes each request take longer, not cost less CPU, as it
// would a real gateway's work.
type workExecutor struct {
	fanout.Executor
	slices int
}

// withWork wraps e so that each request spends about d of CPU before its
// plan runs.
func withWork(e fanout.Executor, d time.Duration) fanout.Executor {
	return &workExecutor{Executor: e, slices: max(1, int(d/sliceTime()))}
}

// sliceTime measures what hashing one slice takes: the fastest of a few
// tries, the one least disturbed by other processes.
func sliceTime() time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 20 {
		start := time.Now()
		sha256.Sum256(workBlock[:])
		best = min(best, time.Since(start))
	}
	return max(best, time.Microsecond)
}

// Execute spends the request's work, then runs its plan.
func (w *workExecutor) Execute(ctx context.Context, p *fanout.Plan, params fanout.Params, d fanout.Doer) *fanout.Result {
	for range w.slices {
		sha256.Sum256(workBlock[:])
		// Other goroutines run between slices, as they would between a
		// gateway's reads and writes.
		runtime.Gosched()
	}
	return w.Executor.Execute(ctx, p, params, d)
}

// Close stops the wrapped executor, if it holds workers.
func (w *workExecutor) Close() error {
	if c, ok := w.Executor.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
