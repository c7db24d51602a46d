// Package lazyctx provides a cancelable context, with or without a deadline
// of its own, that costs nothing until someone waits on it.
//
// context.WithTimeout costs four allocations and a timer armed and stopped
// on the runtime's timer heap, and context.WithCancel under a cancelable
// parent costs the parent a map of children; Fanout made both for every
// backend call and every request. Yet most of those contexts are only ever
// asked Err and Deadline: the backend client bounds the wire by the
// deadline itself and checks Err, and an abort wakes calls on the wire
// through Interrupt, not through Done. A Context answers Err and Deadline
// from its own fields and the clock, and arms a real context (a timer, a
// registration in the parent) only when Done is called, by a policy that
// selects on it or a context derived from it.
package lazyctx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// state is why a Context ended, once it has: sticky, as a context's error
// is.
const (
	live int32 = iota
	canceled
	expired
)

// Context is a context.Context that ends when its parent does, when Cancel
// is called, or at its deadline. Until Done is called it holds no timer and
// registers nothing in its parent: Err compares the clock with the
// deadline. Its zero value is not usable: Reset it first. It is safe for
// concurrent use between Reset and Cancel; Reset must not race with any
// other method, which is what lets a Context be reused from a pool with
// the run that holds it.
//
// One difference from the standard contexts, allowed by their contract's
// spirit but worth knowing: once the deadline has passed, Err may report
// DeadlineExceeded a few microseconds before an armed Done channel closes.
type Context struct {
	parent context.Context
	// own is c's own deadline, zero if none; at is the earlier of own and
	// the parent's, zero if neither has one. c checks the clock against
	// own only, and leaves the parent's deadline to the parent: a context
	// must not end before its parent says it has, or a caller that asks
	// the parent why its work stopped would hear that it has not.
	own, at time.Time
	// ownIn is own as time since epoch.
	ownIn time.Duration
	state atomic.Int32

	// armed is the real context Done made, nil until then. mu orders its
	// making with Cancel, so that a Context cancelled as it arms is
	// stopped either way.
	mu    sync.Mutex
	armed atomic.Pointer[armed]
}

// armed is the standard context that a Context delegates to once armed.
type armed struct {
	ctx  context.Context
	stop context.CancelFunc
}

// Reset makes c a child of parent with the deadline at, or none if at is
// zero; c then ends at the earlier of at and parent's deadline. c must be
// cancelled (or never used) before: Reset forgets an armed context.
func (c *Context) Reset(parent context.Context, at time.Time) {
	c.parent, c.own, c.at = parent, at, at
	c.ownIn = at.Sub(epoch)
	if pd, ok := parent.Deadline(); ok && (at.IsZero() || pd.Before(at)) {
		c.at = pd
	}
	c.state.Store(live)
	c.armed.Store(nil)
}

// Deadline returns the earlier of c's own and its parent's deadline.
func (c *Context) Deadline() (time.Time, bool) { return c.at, !c.at.IsZero() }

// Err returns nil while c is live, Canceled once Cancel was called or the
// parent was cancelled, DeadlineExceeded once a deadline passed.
func (c *Context) Err() error {
	var now clock
	return c.err(&now)
}

// epoch is the origin of the clock the Contexts read: time since it, on
// the monotonic clock, costs one read of the clock where time.Now reads
// the wall clock too. A deadline is compared as time since epoch too
// (ownIn): the deadlines the gateway sets, from time.Now, carry a
// monotonic reading, so the two compare on the same clock.
var epoch = time.Now()

// clock is the time read for one Err, for c and every Context above it:
// contexts nest (the engine's call contexts under its abort context, under
// the server's deadline), and the clock is a good part of what Err costs.
type clock struct {
	read bool
	now  time.Duration // since epoch
}

func (k *clock) since() time.Duration {
	if !k.read {
		k.now, k.read = time.Since(epoch), true
	}
	return k.now
}

// err is Err with the clock read at most once for c and every Context
// above it (now).
func (c *Context) err(now *clock) error {
	switch c.state.Load() {
	case canceled:
		return context.Canceled
	case expired:
		return context.DeadlineExceeded
	}
	if p, ok := c.parent.(*Context); ok {
		if err := p.err(now); err != nil {
			return err
		}
	} else if err := c.parent.Err(); err != nil {
		return err
	}
	if c.expiredAt(now) {
		c.state.CompareAndSwap(live, expired)
		return c.err(now)
	}
	return nil
}

// expiredAt reports whether c's own deadline has passed at now.
func (c *Context) expiredAt(now *clock) bool {
	return !c.own.IsZero() && now.since() >= c.ownIn
}

// Done returns a channel closed when c ends. The first call arms c: it
// makes the standard context that closes the channel, a timer with it if c
// has a deadline.
func (c *Context) Done() <-chan struct{} { return c.arm().Done() }

// Value returns the parent's value for key. Once c is armed it asks the
// armed context, which answers the same for every key of the caller's, and
// lets a context derived from c (context.WithCancel) find a cancelable
// parent whose Done is c's and register with it, instead of starting a
// goroutine to watch c.
func (c *Context) Value(key any) any {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// Cancel ends c with Canceled, unless it ended already, and stops its
// timer if it was armed. Call it when the work under c is over, as the
// CancelFunc of a standard context. It is safe to call more than once.
func (c *Context) Cancel() {
	if c.expiredNow() {
		c.state.CompareAndSwap(live, expired)
	} else {
		c.state.CompareAndSwap(live, canceled)
	}
	c.mu.Lock()
	if a := c.armed.Load(); a != nil {
		a.stop()
	}
	c.mu.Unlock()
}

// arm returns the standard context behind Done, making it on first use.
func (c *Context) arm() context.Context {
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a.ctx
	}
	a := new(armed)
	if c.own.IsZero() {
		a.ctx, a.stop = context.WithCancel(c.parent)
	} else {
		a.ctx, a.stop = context.WithDeadline(c.parent, c.own)
	}
	if c.state.Load() != live {
		a.stop() // ended before it armed: Done is closed at once
	}
	c.armed.Store(a)
	return a.ctx
}

// expiredNow reports whether c's own deadline has passed.
func (c *Context) expiredNow() bool {
	var now clock
	return c.expiredAt(&now)
}
