package stage

import (
	"strings"
	"testing"
	"time"
)

// TestWindowFigures: answers per second count the last second by kind, the
// percentiles cover the whole window, and older samples are dropped.
func TestWindowFigures(t *testing.T) {
	now := time.Now()
	w := &window{span: 2 * time.Second}
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	// Out of the window: a slow answer that must not weigh on p99.
	w.add(sample{end: at(3 * time.Second), latency: 10 * time.Second, class: failed}, "", 0)
	// In the window but not in the last second: counts in percentiles only.
	for range 50 {
		w.add(sample{end: at(1500 * time.Millisecond), latency: 100 * time.Millisecond, class: complete}, "", 200)
	}
	// In the last second: 40 complete, 5 partial, 5 failed.
	for i := range 50 {
		c, lat := complete, 10*time.Millisecond
		switch {
		case i >= 45:
			c, lat = failed, time.Second
		case i >= 40:
			c = partial
		}
		w.add(sample{end: at(500 * time.Millisecond), latency: lat, class: c}, "", 200)
	}
	w.add(sample{end: at(100 * time.Millisecond), latency: 10 * time.Millisecond, class: complete}, "total;dur=10", 200)

	f := w.figures(now)
	if f.Complete != 41 || f.Partial != 5 || f.Failed != 5 {
		t.Errorf("per second: complete %v partial %v failed %v, want 41, 5, 5", f.Complete, f.Partial, f.Failed)
	}
	if f.Samples != 101 {
		t.Errorf("percentiles over %d answers, want the 101 of the window", f.Samples)
	}
	// 46 of 101 at 10 ms, 50 at 100 ms, 5 at 1 s: p50 is 100 ms, p99 1 s;
	// the 10 s answer of 3 s ago would make p99 10 s.
	if f.P50 != 100*time.Millisecond || f.P99 != time.Second {
		t.Errorf("p50 %v p99 %v, want 100ms and 1s", f.P50, f.P99)
	}
	if !strings.Contains(f.Timing, "total") || f.Status != 200 {
		t.Errorf("latest timing %q status %d, want the last answer's", f.Timing, f.Status)
	}
	if n := len(w.samples); n != 101 {
		t.Errorf("window keeps %d samples, want 101: the old one dropped", n)
	}
	// Once everything is older than the window, nothing is left to show.
	if f := w.figures(now.Add(time.Minute)); f.Samples != 0 || f.Complete != 0 || f.P99 != 0 {
		t.Errorf("a minute later: %+v, want no answers", f)
	}
}

// TestHubDropsForASlowPage: a page that reads nothing gets the first
// subscriberBuffer events and misses the rest; sending never waits for it,
// and a page that reads gets every event.
func TestHubDropsForASlowPage(t *testing.T) {
	h := newHub()
	slow, fast := h.subscribe(), h.subscribe()
	got := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range fast {
			got++
		}
	}()
	n := 3 * subscriberBuffer
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			h.send("frame", i)
			// The reading page keeps up: it is never more than one behind.
			for len(fast) > 0 {
				time.Sleep(time.Microsecond)
			}
		}
	}()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("sending blocked on the page that reads nothing")
	}
	if len(slow) != subscriberBuffer {
		t.Errorf("the slow page has %d events waiting, want the first %d", len(slow), subscriberBuffer)
	}
	if first := string(<-slow); !strings.Contains(first, "data: 0\n") {
		t.Errorf("the slow page's first event %q, want event 0", first)
	}
	h.close()
	<-done
	if got != n {
		t.Errorf("the reading page got %d of %d events", got, n)
	}
	if _, ok := <-h.subscribe(); ok {
		t.Error("a page that subscribes after close gets an open stream")
	}
}
