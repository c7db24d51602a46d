// Package ratelog keeps a repeated log line to one per interval for each
// cause, with a count of the lines it held back. While a dependency such
// as Redis is down, every request meets the same error: one line per
// request would bury the log (and cost the gateway a write per request),
// while one line a second with "(N more in the last second)" says as much.
package ratelog

import (
	"fmt"
	"sync/atomic"
	"time"
)

// A Cause is one kind of repeated event, e.g. "the rate limit's store
// failed". Its Allow reports whether a line may be written now. It is safe
// for concurrent use, and Allow neither allocates nor locks: it runs on a
// request's path, once per failed request.
type Cause struct {
	every time.Duration
	// now returns the time since an arbitrary, fixed origin (the
	// process's monotonic clock by default; a fake one in tests).
	now func() time.Duration
	// next is when (on now's scale) the next line may be written; held
	// counts the events since the last line that wrote none.
	next atomic.Int64
	held atomic.Int64
	// last is when the last line was written, for the span a tally
	// covers.
	last atomic.Int64
}

// origin is the fixed point of the default clock: time.Since reads the
// monotonic clock, which a change of the wall clock does not move.
var origin = time.Now()

// New returns a Cause that allows one line per every (a second, if every
// is not positive).
func New(every time.Duration) *Cause {
	return NewWithClock(every, func() time.Duration { return time.Since(origin) })
}

// NewWithClock is New with now as the clock: the time elapsed since some
// fixed origin. Tests pass a fake one.
func NewWithClock(every time.Duration, now func() time.Duration) *Cause {
	if every <= 0 {
		every = time.Second
	}
	c := &Cause{every: every, now: now}
	// The first event may always be written.
	c.next.Store(int64(now()) - int64(every))
	return c
}

// Tally is what a line allowed by Allow reports: how many events were
// held back since the previous line, and over how long.
type Tally struct {
	Held  int64
	Since time.Duration
}

// Allow counts one event and reports whether its line may be written now:
// the first event of a cause, and then the first one at least every after
// the last line written. When it may, the Tally holds the events held back
// since the last line.
func (c *Cause) Allow() (Tally, bool) {
	now := int64(c.now())
	next := c.next.Load()
	// Of concurrent callers past next, the one whose swap succeeds
	// writes the line; the others count as held back.
	if now < next || !c.next.CompareAndSwap(next, now+int64(c.every)) {
		c.held.Add(1)
		return Tally{}, false
	}
	last := c.last.Swap(now)
	t := Tally{Held: c.held.Swap(0)}
	if t.Held > 0 {
		t.Since = time.Duration(now - last)
	}
	return t, true
}

// Message returns msg, followed by "(N more in the last D)" when events
// were held back, for the line of an allowed event.
func (t Tally) Message(msg string) string {
	if t.Held == 0 {
		return msg
	}
	return fmt.Sprintf("%s (%d more in the last %s)", msg, t.Held, t.Since.Round(time.Millisecond))
}
