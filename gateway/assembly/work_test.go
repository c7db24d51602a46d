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
	took := func(d time.Duration) time.Duration {
		inner := &closingExecutor{}
		e := withWork(inner, d)
		start := cpu()
		for range 20 {
			if e.Execute(context.Background(), nil, nil, nil) == nil {
				t.Fatal("no result from the wrapped executor")
			}
		}
		spent := cpu() - start
		if err := closeExecutor(e); err != nil || !inner.closed {
			t.Errorf("close: %v, wrapped executor closed %v", err, inner.closed)
		}
		return spent / 20
	}
	one, four := took(time.Millisecond), took(4*time.Millisecond)
	t.Logf("CPU per request: -work 1ms %v, 4ms %v", one, four)
	if r := float64(four) / float64(one); r < 2.5 || r > 6 {
		t.Errorf("-work 4ms cost %.1f times the CPU of -work 1ms, want about 4", r)
	}
}
