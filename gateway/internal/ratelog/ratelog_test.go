package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when the test moves it.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

// TestCauseOneLinePerInterval: of a burst of events, the first is
// written, the rest of the interval are held back, and the first line of
// the next interval counts them.
func TestCauseOneLinePerInterval(t *testing.T) {
	var clk fakeClock
	c := NewWithClock(time.Second, clk.now)
	steps := []struct {
		advance time.Duration
		events  int
		// lines and held are what the step's events write: how many
		// lines, and the count the first of them reports.
		lines int
		held  int64
	}{
		{0, 1, 1, 0},                         // the first event is written at once
		{100 * time.Millisecond, 50, 0, 0},   // the rest of the second is held back
		{800 * time.Millisecond, 49, 0, 0},   // still within the second
		{100 * time.Millisecond, 10, 1, 99},  // a second on: one line, counting the 99
		{5 * time.Second, 1, 1, 9},           // a quiet spell: the next event is written
		{10 * time.Millisecond, 1000, 0, 0},  // a larger burst, held back
		{990 * time.Millisecond, 1, 1, 1000}, // exactly a second after the last line
	}
	for i, s := range steps {
		clk.advance(s.advance)
		lines := 0
		var held int64 = -1
		for range s.events {
			if tally, ok := c.Allow(); ok {
				lines++
				if held < 0 {
					held = tally.Held
				}
			}
		}
		if lines != s.lines || (lines > 0 && held != s.held) {
			t.Errorf("step %d: %d lines, the first counting %d held back; want %d lines, counting %d", i, lines, held, s.lines, s.held)
		}
	}
}

// TestTallyMessage: a line says how many were held back, over how long.
func TestTallyMessage(t *testing.T) {
	var clk fakeClock
	c := NewWithClock(time.Second, clk.now)
	first, _ := c.Allow()
	if got := first.Message("store unavailable"); got != "store unavailable" {
		t.Errorf("first line %q, want the message alone", got)
	}
	for range 7 {
		c.Allow()
	}
	clk.advance(1500 * time.Millisecond)
	next, ok := c.Allow()
	if want := "store unavailable (7 more in the last 1.5s)"; !ok || next.Message("store unavailable") != want {
		t.Errorf("next line %q (allowed %v), want %q", next.Message("store unavailable"), ok, want)
	}
}

// TestCauseConcurrentBurst: many goroutines hitting one cause at once
// write one line, and every other event is counted in the next line:
// none is lost, none counted twice.
func TestCauseConcurrentBurst(t *testing.T) {
	var clk fakeClock
	c := NewWithClock(time.Second, clk.now)
	const goroutines, each = 8, 500
	var lines atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, ok := c.Allow(); ok {
					lines.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if lines.Load() != 1 {
		t.Errorf("%d lines for a burst within one interval, want 1", lines.Load())
	}
	clk.advance(time.Second)
	tally, ok := c.Allow()
	if !ok || tally.Held != goroutines*each-1 {
		t.Errorf("next line: allowed %v, %d held back; want %d", ok, tally.Held, goroutines*each-1)
	}
}

// TestCauseRealClock: on the real clock, a bounded burst of events as
// fast as they come writes one or two lines (two if it spans an interval),
// never one per event.
func TestCauseRealClock(t *testing.T) {
	c := New(time.Second)
	lines := 0
	for range 10000 {
		if _, ok := c.Allow(); ok {
			lines++
		}
	}
	if lines < 1 || lines > 2 {
		t.Errorf("%d lines for 10000 events, want 1 (2 if the burst spanned a second)", lines)
	}
}

// TestAllowAllocs: an event held back costs no allocation, and neither
// does one allowed.
func TestAllowAllocs(t *testing.T) {
	c := New(time.Hour)
	c.Allow()
	if n := testing.AllocsPerRun(1000, func() { c.Allow() }); n != 0 {
		t.Errorf("%.1f allocations per held-back event, want 0", n)
	}
}
