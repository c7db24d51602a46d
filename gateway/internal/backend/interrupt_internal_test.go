package backend

import (
	"context"
	"testing"
	"time"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct{ set []time.Time }

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// TestInterruptCutsOnlyDoneCalls: Interrupt cuts the calls on the wire
// whose contexts are done, and only those; a call that reaches the wire
// with its context already done (an Interrupt ran before it registered) is
// cut as it registers; a call that left is never touched again.
func TestInterruptCutsOnlyDoneCalls(t *testing.T) {
	var e Exchange
	live, cancelLive := context.WithCancel(context.Background())
	defer cancelLive()
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()

	var a, b deadlineConn
	ia := e.enter(live, &a)
	ib := e.enter(done, &b)
	if len(a.set) != 0 {
		t.Errorf("a live call got deadlines %v as it registered", a.set)
	}
	if len(b.set) != 1 || !b.set[0].Equal(longAgo) {
		t.Errorf("a call registered with its context done got deadlines %v, want one in the past", b.set)
	}

	e.Interrupt()
	if len(a.set) != 0 {
		t.Errorf("Interrupt cut a call whose context is not done: deadlines %v", a.set)
	}
	if len(b.set) != 1 {
		t.Errorf("Interrupt cut a call already cut again: deadlines %v", b.set)
	}
	if !e.leave(ib, nil) {
		t.Error("leave says a call registered with its context done was not cut")
	}

	cancelLive()
	e.Interrupt()
	if len(a.set) != 1 || !a.set[0].Equal(longAgo) {
		t.Errorf("Interrupt after the cancel: deadlines %v, want one in the past", a.set)
	}
	if !e.leave(ia, nil) {
		t.Error("leave says an interrupted call was not cut")
	}
	e.Interrupt()
	if len(a.set) != 1 || len(b.set) != 1 {
		t.Errorf("Interrupt touched calls that had left: deadlines %v and %v", a.set, b.set)
	}
}

// TestWireCallsDoNotAllocate: once an Exchange has seen its calls, their
// registration costs no allocation, which the per-call arming of a context
// callback did.
func TestWireCallsDoNotAllocate(t *testing.T) {
	var e Exchange
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var conns [4]deadlineConn
	run := func() {
		var slots [len(conns)]int
		for i := range conns {
			slots[i] = e.enter(ctx, &conns[i])
		}
		for _, s := range slots {
			e.leave(s, nil)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per request of %d calls, want none", n, len(conns))
	}
}
