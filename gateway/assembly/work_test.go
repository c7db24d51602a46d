//go:build linux

package assembly

import (
	"context"
	"runtime"
	"testing"
	"time"

	"fanout/gateway/fanout"

	"golang.org/x/sys/unix"
)

// closingExecutor runs no call and records that it was closed.
type closingExecutor struct{ closed bool }

func (*closingExecutor) Mode() string { return "stub" }

func (*closingExecutor) Execute(context.Context, *fanout.Plan, fanout.Params, fanout.Doer) *fanout.Result {
	return &fanout.Result{}
}

func (e *closingExecutor) Close() error { e.closed = true; return nil }

// TestWorkCostsWhatItSays: -work spends CPU in proportion to its
// setting, before the wrapped executor runs, and a pool behind it is
// still closed with the gateway.
func TestWorkCostsWhatItSays(t *testing.T) {
	// This thread's CPU time, not the wall clock nor the process's: other
	// processes on the machine delay the work, and the process's other
	// goroutines (the race detector, the GC, servers of earlier tests)
	// spend CPU of their own, but neither changes what the work costs.
	// The work runs on the calling goroutine, locked to its thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// Both settings are built back to back and run in turns, so that
	// their calibrations and their requests meet the machine in the same
	// state: on a busy machine a slice of hashing can take twice the CPU
	// it took a moment before (the other core's load shares its caches).
	inner1, inner4 := &closingExecutor{}, &closingExecutor{}
	e1, e4 := withWork(inner1, time.Millisecond), withWork(inner4, 4*time.Millisecond)
	run := func(e fanout.Executor) time.Duration {
		start := cpu()
		if e.Execute(context.Background(), nil, nil, nil) == nil {
			t.Fatal("no result from the wrapped executor")
		}
		return cpu() - start
	}
	var one, four time.Duration
	const requests = 20
	for range requests {
		one += run(e1)
		four += run(e4)
	}
	one, four = one/requests, four/requests
	for _, c := range []struct {
		e     fanout.Executor
		inner *closingExecutor
	}{{e1, inner1}, {e4, inner4}} {
		if err := closeExecutor(c.e); err != nil || !c.inner.closed {
			t.Errorf("close: %v, wrapped executor closed %v", err, c.inner.closed)
		}
	}
	t.Logf("CPU per request: -work 1ms %v, 4ms %v", one, four)
	if r := float64(four) / float64(one); r < 2.5 || r > 6 {
		t.Errorf("-work 4ms cost %.1f times the CPU of -work 1ms, want about 4", r)
	}
}
