package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShowClaims plays the whole show, shrunk, against the real gateway and
// mock backends, and checks what it claims by ordering only.
func TestShowClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	o := DefaultOptions(&out)
	o.Quick()
	o.Log = &log
	o.HTML = filepath.Join(t.TempDir(), "demo.html")
	rep, err := Run(ctx, o)
	t.Logf("show:\n%s", out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}

	t.Run("eventloop", func(t *testing.T) {
		if len(rep.EventLoop) != 2 {
			t.Fatalf("%d event loop runs, want 2", len(rep.EventLoop))
		}
		for _, run := range rep.EventLoop {
			if run.Slow.Start >= run.Fast.Start {
				t.Errorf("%s: the slow request did not start first: %+v", run.Mode, run)
			}
			switch run.Mode {
			case "concurrent":
				if !run.FastFirst() {
					t.Errorf("concurrent: fast finished after slow: %+v", run)
				}
			case "blocking":
				if run.FastFirst() {
					t.Errorf("blocking: fast finished before slow: %+v", run)
				}
			}
		}
	})

	t.Run("results", func(t *testing.T) {
		if len(rep.Results) != 3 {
			t.Fatalf("%d results runs, want 3", len(rep.Results))
		}
		seq, staged, conc := rep.Results[0], rep.Results[1], rep.Results[2]
		// The fastest of each mode's requests: a busy machine can delay
		// any one request (the median shown) by more than the 15 ms
		// between staged and concurrent, but not every one of them.
		if !(seq.Fastest > staged.Fastest && staged.Fastest > conc.Fastest) {
			t.Errorf("fastest totals not sequential > staged > concurrent: %v %v %v", seq.Fastest, staged.Fastest, conc.Fastest)
		}
		for _, r := range rep.Results {
			if len(r.Timing.Calls) != 4 {
				t.Errorf("%s: %d Server-Timing spans, want 4", r.Mode, len(r.Timing.Calls))
			}
		}
		l := rep.ResultsLimits
		if !(l.Sum > l.Levels && l.Levels > l.CriticalPath && l.CriticalPath > 0) {
			t.Errorf("limits not sum > levels > critical path > 0: %+v", l)
		}
		// Nothing beats the critical path.
		if conc.Total < l.CriticalPath {
			t.Errorf("concurrent total %v under the critical path %v", conc.Total, l.CriticalPath)
		}
	})

	t.Run("load", func(t *testing.T) {
		if len(rep.Load) != 3 {
			t.Fatalf("%d load runs, want 3", len(rep.Load))
		}
		byMode := map[string]LoadRun{}
		// The rates derive from the backends' latencies: blocking's
		// capacity is 1 / the backend time of one request.
		capacity := 1 / rep.ResultsLimits.Sum.Seconds()
		want := loadRates(rep.ResultsLimits.Sum, o.LoadFactors)
		for _, r := range rep.Load {
			if len(r.Steps) != len(want) {
				t.Fatalf("%s: %d steps, want %d", r.Mode, len(r.Steps), len(want))
			}
			for i, st := range r.Steps {
				if st.Rate != want[i] {
					t.Errorf("%s: step %d at %d/s, want %d/s (%v × %.1f/s)", r.Mode, i, st.Rate, want[i], o.LoadFactors[i], capacity)
				}
				// Never more served than offered.
				if st.Throughput > float64(st.Rate) {
					t.Errorf("%s at %d/s: throughput %.1f/s above the offered rate", r.Mode, st.Rate, st.Throughput)
				}
			}
			byMode[r.Mode] = r
		}
		// Blocking is first seen working, under its capacity...
		bl := byMode["blocking"]
		if float64(bl.Steps[0].Rate) >= capacity {
			t.Errorf("the first rate %d/s is not under blocking's capacity %.1f/s", bl.Steps[0].Rate, capacity)
		}
		if bl.Steps[0].Broken {
			t.Errorf("blocking broke at its first rate, %d/s, under its capacity %.1f/s: %s", bl.Steps[0].Rate, capacity, bl.Steps[0].Why)
		}
		// ...then one lock caps throughput at 1 / backend time, far under
		// the top rate.
		b := bl.BrokeAt()
		if b < 0 {
			t.Fatalf("blocking never broke at rates %v", want)
		}
		// From where blocking broke, concurrent served more at its best
		// than blocking at its best: one lock caps blocking at every rate,
		// while concurrent follows the offered rate. The best of the steps,
		// not the breaking step alone, since on a loaded machine one step
		// just above blocking's capacity can leave both near it.
		best := func(steps []Step) float64 {
			var m float64
			for _, st := range steps[b:] {
				m = max(m, st.Throughput)
			}
			return m
		}
		if bt, ct := best(bl.Steps), best(byMode["concurrent"].Steps); bt >= ct {
			t.Errorf("from %d/s on, blocking served at best %.1f/s, concurrent %.1f/s", bl.Steps[b].Rate, bt, ct)
		}
	})

	t.Run("pool", func(t *testing.T) {
		p := rep.Pool
		if p == nil || len(p.Pool.Steps) != len(o.PoolLoads) || len(p.Conc.Steps) != len(o.PoolLoads) {
			t.Fatalf("pool run incomplete: %+v", p)
		}
		last := len(o.PoolLoads) - 1
		if p.Pool.Steps[last].P99 <= p.Conc.Steps[last].P99 {
			t.Errorf("past capacity the pool's p99 %v is not above concurrent's %v", p.Pool.Steps[last].P99, p.Conc.Steps[last].P99)
		}
	})

	t.Run("output", func(t *testing.T) {
		text := out.String()
		for _, want := range []string{"The event loop", "Getting results", "Under load", "The worker pool", "slow request start", "fast request done"} {
			if !strings.Contains(text, want) {
				t.Errorf("show lacks %q", want)
			}
		}
		if strings.Contains(text, "\x1b[") {
			t.Error("colours on a non-terminal")
		}
		if strings.Contains(text, "press Enter") {
			t.Error("paused without a terminal")
		}
		html, err := os.ReadFile(o.HTML)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(html), "<svg"); n < 8 {
			t.Errorf("page has %d charts, want at least 8", n)
		}
	})
}
