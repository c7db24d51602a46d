package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// A gate is what a call of the graph runner passes through between being
// ready and entering its Doer: the policy of a mode that limits how many calls
// run at once. The runner times enter as the call's Outcome.Wait. A gate is
// shared by every request its Executor serves, so implementations must be
// safe for concurrent use, and should not allocate: they are on every call's
// path.
type gate interface {
	// enter waits for the call's turn, or returns why the call must not be
	// sent: ctx's error if ctx ended first, or ErrClosed. A gate may ignore
	// ctx (that is the blocking mode's pitfall); the runner checks it again
	// before the Doer.
	enter(ctx context.Context) error
	// leave ends the turn that a successful enter granted.
	leave()
}

// slots is the pool mode's gate: at most N calls hold a slot at once, and
// the others wait for one in the order they came. A call whose ctx ends while
// it waits (its deadline, or its run aborted) is withdrawn and frees nothing.
//
// The slots are a buffered channel: a send takes one, a receive frees one.
// Go hands a freed slot to the longest-waiting blocked sender, which makes
// the queue first come first served, and a select on ctx withdraws a waiter
// without a goroutine or an allocation.
type slots struct {
	ch     chan struct{}
	closed atomic.Bool
}

func newSlots(n int) *slots { return &slots{ch: make(chan struct{}, n)} }

func (s *slots) enter(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slots) leave() { <-s.ch }

// close turns away the calls that come afterwards with ErrClosed.
func (s *slots) close() { s.closed.Store(true) }

// lock is the blocking mode's gate, the classic pitfall: every backend call
// is made while holding one lock shared by every request the Executor serves,
// as a blocking call inside an event loop stalls every task. One slow call
// stalls everyone; Outcome.Wait shows the time spent waiting for the lock.
//
// The lock belongs to the Executor, and the gateway holds one Executor per
// process, so it is process-wide there while tests stay independent.
type lock struct{ mu sync.Mutex }

// enter waits for the lock whatever ctx says, as a blocked event loop would:
// a waiting call cannot be withdrawn. The runner does not send a call that
// gets the lock after ctx is done, or after a required call of its run
// failed.
func (l *lock) enter(context.Context) error {
	l.mu.Lock()
	return nil
}

func (l *lock) leave() { l.mu.Unlock() }
