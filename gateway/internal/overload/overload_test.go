package overload

import (
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newLimiter(t *testing.T, s Settings) (*Limiter, *fakeClock) {
	t.Helper()
	l, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClock{t: time.Unix(1e9, 0)}
	l.now = c.now
	l.winStart = c.t
	return l, c
}

// window runs one window of n requests in progress at once that each take
// d; the clock passes the window before the last one ends, so that the
// window holds exactly these n.
func window(t *testing.T, l *Limiter, c *fakeClock, n int, d time.Duration) {
	t.Helper()
	for i := range n {
		if !l.Acquire(Sheddable) {
			t.Fatalf("request %d of %d shed at limit %d", i+1, n, l.Limit())
		}
	}
	for i := range n {
		if i == n-1 {
			c.t = c.t.Add(l.s.Window)
		}
		l.Release(d, true)
	}
}

// TestSheddingOrder: at the limit, reads are shed first; writes are
// admitted up to the headroom beyond it, then shed too; a release admits
// again.
func TestSheddingOrder(t *testing.T) {
	l, _ := newLimiter(t, Settings{Initial: 20, Min: 1, Headroom: 0.1})
	for i := range 20 {
		if !l.Acquire(Sheddable) {
			t.Fatalf("read %d shed under the limit", i+1)
		}
	}
	if l.Acquire(Sheddable) {
		t.Fatal("read admitted beyond the limit")
	}
	for i := range 2 {
		if !l.Acquire(Critical) {
			t.Fatalf("write %d shed within the headroom", i+1)
		}
	}
	if l.Acquire(Critical) {
		t.Fatal("write admitted beyond the headroom")
	}
	if l.Shed(Sheddable) != 1 || l.Shed(Critical) != 1 {
		t.Errorf("shed %d reads and %d writes, want 1 and 1", l.Shed(Sheddable), l.Shed(Critical))
	}
	for range 3 {
		l.Release(time.Millisecond, true)
	}
	if !l.Acquire(Sheddable) {
		t.Error("read shed after the releases brought in-flight under the limit")
	}
	if got := l.InFlight(); got != 20 {
		t.Errorf("in flight %d, want 20", got)
	}
}

// TestAdapts: the limit grows while it is used and the latency stays at
// its unloaded value, shrinks when the latency climbs past the tolerance,
// and grows back once it falls.
func TestAdapts(t *testing.T) {
	l, c := newLimiter(t, Settings{Initial: 16, Min: 4, Tolerance: 1.5, Samples: 10})
	base := 40 * time.Millisecond
	start := l.Limit()
	for range 10 {
		window(t, l, c, int(l.Limit()), base)
	}
	grown := l.Limit()
	if grown <= start*2 {
		t.Fatalf("limit %d after 10 busy windows at the unloaded latency, want more than twice %d", grown, start)
	}
	if l.Baseline() != base {
		t.Errorf("baseline %v, want %v", l.Baseline(), base)
	}

	// Latency three times the baseline: queueing. The limit shrinks.
	for range 3 {
		window(t, l, c, int(l.Limit()), 3*base)
	}
	shrunk := l.Limit()
	if shrunk >= grown/2 {
		t.Fatalf("limit %d after 3 slow windows, want less than half %d", shrunk, grown)
	}

	// Back to normal: it grows again.
	for range 10 {
		window(t, l, c, int(l.Limit()), base)
	}
	if l.Limit() <= shrunk {
		t.Errorf("limit %d after recovery, want more than %d", l.Limit(), shrunk)
	}
}

// TestIdleDoesNotGrow: a limit nobody comes near is not raised, so an idle
// gateway does not build up a limit that a burst would then overrun.
func TestIdleDoesNotGrow(t *testing.T) {
	l, c := newLimiter(t, Settings{Initial: 64, Samples: 2})
	for range 20 {
		window(t, l, c, 2, 10*time.Millisecond)
	}
	if l.Limit() != 64 {
		t.Errorf("limit %d after idle windows, want 64", l.Limit())
	}
}

// TestBounds: the limit stays within Min and Max.
func TestBounds(t *testing.T) {
	l, c := newLimiter(t, Settings{Initial: 10, Min: 5, Max: 12, Samples: 5})
	for range 20 {
		window(t, l, c, int(l.Limit()), 10*time.Millisecond)
	}
	if l.Limit() != 12 {
		t.Errorf("limit %d, want the max 12", l.Limit())
	}
	for range 20 {
		window(t, l, c, int(l.Limit()), time.Second)
	}
	if l.Limit() != 5 {
		t.Errorf("limit %d, want the min 5", l.Limit())
	}
	if _, err := New(Settings{Min: 10, Max: 5}); err == nil {
		t.Error("min above max accepted")
	}
}

// TestFailuresNotMeasured: fast failures (an open breaker's refusals) do
// not teach the limit that serving is fast: once pages are served again
// at their usual latency, the limit does not collapse.
func TestFailuresNotMeasured(t *testing.T) {
	l, c := newLimiter(t, Settings{Initial: 32, Min: 4, Samples: 10})
	for range 5 {
		window(t, l, c, int(l.Limit()), 40*time.Millisecond)
	}
	before := l.Limit()
	for range 20 {
		for range 30 {
			l.Acquire(Sheddable)
		}
		c.t = c.t.Add(l.s.Window)
		for range 30 {
			l.Release(200*time.Microsecond, false)
		}
	}
	if l.InFlight() != 0 {
		t.Fatalf("in flight %d after every release", l.InFlight())
	}
	for range 3 {
		window(t, l, c, int(l.Limit()), 40*time.Millisecond)
	}
	if l.Limit() < before {
		t.Errorf("limit %d after fast failures and normal pages, want at least %d", l.Limit(), before)
	}
}
