package fanout

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
)

// compileResults compiles the results page's plan.
func compileResults(t testing.TB) *Plan {
	t.Helper()
	return mustCompile(t, "getExperimentResults", resultsCalls, resultsParams)
}

// mustCompile compiles a plan that the test needs, failing t if it does
// not compile.
func mustCompile(t testing.TB, op string, calls []CallSpec, params []string) *Plan {
	t.Helper()
	p, err := Compile(op, calls, params)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newExecutor(t testing.TB, mode string, opts Options) Executor {
	t.Helper()
	e, err := New(mode, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := e.(io.Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
	return e
}

func TestNew(t *testing.T) {
	for _, mode := range Modes {
		e, err := New(mode, Options{})
		if err != nil {
			t.Fatalf("New(%q): %v", mode, err)
		}
		if e.Mode() != mode {
			t.Errorf("New(%q).Mode() = %q", mode, e.Mode())
		}
		if c, ok := e.(io.Closer); ok {
			c.Close()
		}
	}
	if _, err := New("async", Options{}); err == nil || !strings.Contains(err.Error(), `unknown mode "async"`) {
		t.Errorf("unknown mode: err = %v", err)
	}
	if _, err := New(ModePool, Options{PoolSize: -1}); err == nil {
		t.Errorf("negative pool size: no error")
	}
}

// TestExecuteSendsExpandedPaths checks, in every mode, that each call gets its
// backend, method and path with the dependency's fields filled in.
func TestExecuteSendsExpandedPaths(t *testing.T) {
	p := compileResults(t)
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			d := &recordingDoer{next: instantDoer{}}
			r := newExecutor(t, mode, Options{PoolSize: 2}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
			defer r.Release()
			var got []string
			for _, c := range d.recorded() {
				got = append(got, c.backend+" "+c.method+" "+c.path)
			}
			slices.Sort(got)
			want := []string{
				"experiments GET /experiments/42",
				"layers GET /layers/7",
				"projects GET /projects/3/settings",
				"results GET /results/42",
			}
			if !slices.Equal(got, want) {
				t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for i, o := range r.Outcomes {
				name := p.Calls()[i].Spec.Name
				if !o.OK() || !o.Sent || string(o.Body) != string(bodies[p.Calls()[i].Spec.Backend]) {
					t.Errorf("%s: outcome %+v", name, o)
				}
			}
		})
	}
}

// span is the wall-clock interval of one call, from the recording Doer.
func overlaps(a, b recordedCall) bool { return a.begin.Before(b.end) && b.begin.Before(a.end) }

// fastest runs the plan a few times and keeps the quickest run: timers only
// ever fire late, so the minimum is the best estimate of what a mode costs on
// a busy machine.
func fastest(t *testing.T, e Executor, p *Plan, d Doer) (best *Result) {
	t.Helper()
	for range 3 {
		r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
		for i, o := range r.Outcomes {
			if !o.OK() {
				t.Fatalf("%s: call %s: %+v", e.Mode(), p.Calls()[i].Spec.Name, o)
			}
		}
		if best == nil || r.Total < best.Total {
			best.Release()
			best = r
		} else {
			r.Release()
		}
	}
	return best
}

// TestStrategyTiming tells the story with a delayed Doer (experiment 20ms,
// then layer 15ms and settings 10ms; results 40ms independent): sequential
// costs the sum (85ms), staged the sum of the levels' maxima (55ms), concurrent
// the critical path (40ms). It asserts orderings of the calls and ratios of
// the totals, never absolute budgets.
func TestStrategyTiming(t *testing.T) {
	p := compileResults(t)
	delays := storyDelays()
	d := delayedDoer{delay: delays}
	dur := func(c Call) time.Duration { return delays[c.Spec.Backend] }
	limit := map[string]time.Duration{
		ModeSequential: p.Sum(dur),
		ModeStaged:     p.LevelSum(dur),
		ModeConcurrent: p.CriticalPath(dur),
		ModePool:       p.CriticalPath(dur), // with enough slots
	}
	total := map[string]time.Duration{}
	exp, layer, settings, results := p.Index("experiment"), p.Index("layer"), p.Index("settings"), p.Index("results")
	end := func(o Outcome) time.Duration { return o.Start + o.Duration }
	for _, mode := range []string{ModeSequential, ModeStaged, ModeConcurrent, ModePool} {
		r := fastest(t, newExecutor(t, mode, Options{PoolSize: 4}), p, d)
		o := r.Outcomes
		total[mode] = r.Total
		t.Logf("%-10s total %v (limit %v)", mode, r.Total.Round(time.Millisecond/10), limit[mode])
		if r.Total < limit[mode]*95/100 {
			t.Errorf("%s: total %v beats the limit %v", mode, r.Total, limit[mode])
		}
		// A call never starts before its dependency ends.
		for _, i := range []int{layer, settings} {
			if o[i].Start < end(o[exp]) {
				t.Errorf("%s: %s starts at %v, before experiment ends at %v", mode, p.Calls()[i].Spec.Name, o[i].Start, end(o[exp]))
			}
		}
		switch mode {
		case ModeSequential:
			for i := 1; i < len(o); i++ {
				if o[i].Start < end(o[i-1]) {
					t.Errorf("sequential: call %d starts at %v before call %d ends at %v", i, o[i].Start, i-1, end(o[i-1]))
				}
			}
		case ModeStaged:
			// Level 1 waits for the whole of level 0, results included.
			if o[layer].Start < end(o[results]) {
				t.Errorf("staged: layer starts at %v, before level 0 (results) ends at %v", o[layer].Start, end(o[results]))
			}
		default:
			// Layer starts the moment experiment ends, while results still runs.
			if o[layer].Start >= end(o[results]) {
				t.Errorf("%s: layer starts at %v, after results ends at %v: it waited for an unrelated call", mode, o[layer].Start, end(o[results]))
			}
			if o[results].Start >= end(o[exp]) {
				t.Errorf("%s: results starts at %v, after experiment ends: it should not wait", mode, o[results].Start)
			}
		}
		r.Release()
	}
	// The totals' ordering, with slack: each mode is closer to its own limit
	// than to the next mode's.
	mid := func(a, b time.Duration) time.Duration { return (a + b) / 2 }
	if total[ModeConcurrent] >= mid(limit[ModeConcurrent], limit[ModeStaged]) {
		t.Errorf("concurrent %v is not closer to the critical path %v than to staged's %v", total[ModeConcurrent], limit[ModeConcurrent], limit[ModeStaged])
	}
	if total[ModePool] >= mid(limit[ModePool], limit[ModeStaged]) {
		t.Errorf("pool of 4 %v is not closer to the critical path %v than to staged's %v", total[ModePool], limit[ModePool], limit[ModeStaged])
	}
	if s := total[ModeStaged]; s <= mid(limit[ModeConcurrent], limit[ModeStaged]) || s >= mid(limit[ModeStaged], limit[ModeSequential]) {
		t.Errorf("staged %v is not near the level sum %v", s, limit[ModeStaged])
	}
	if total[ModeSequential] <= mid(limit[ModeStaged], limit[ModeSequential]) {
		t.Errorf("sequential %v is not near the sum %v", total[ModeSequential], limit[ModeSequential])
	}
}

// TestPoolOfOneSerialises checks that one slot runs the calls one at a time
// even though the plan allows three at once, and that waiting shows in Wait.
func TestPoolOfOneSerialises(t *testing.T) {
	p := compileResults(t)
	delays := storyDelays()
	d := &recordingDoer{next: delayedDoer{delay: delays}}
	r := newExecutor(t, ModePool, Options{PoolSize: 1}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
	defer r.Release()
	calls := d.recorded()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			if overlaps(calls[i], calls[j]) {
				t.Errorf("calls %s and %s overlap with one slot", calls[i].path, calls[j].path)
			}
		}
	}
	sum := p.Sum(func(c Call) time.Duration { return delays[c.Spec.Backend] })
	if r.Total < sum*95/100 {
		t.Errorf("total %v with one slot, want about the sum %v", r.Total, sum)
	}
	var waited time.Duration
	for _, o := range r.Outcomes {
		waited += o.Wait
		if o.Start < o.Wait {
			t.Errorf("call entered the Doer at %v after waiting %v: Start must include the wait", o.Start, o.Wait)
		}
	}
	// Results was ready at once but queued behind experiment (or the reverse).
	if waited < delays["experiments"]*9/10 {
		t.Errorf("total wait %v, want at least the first call's %v", waited, delays["experiments"])
	}
	// Layer was ready when experiment ended, while results held the slot:
	// its wait counts from then, not from when the slot came free.
	exp, layer, results := r.Outcomes[p.Index("experiment")], r.Outcomes[p.Index("layer")], r.Outcomes[p.Index("results")]
	if exp.Start < results.Start {
		if ready := layer.Start - layer.Wait; ready >= results.Start+results.Duration {
			t.Errorf("layer counted as ready at %v, after results freed the slot at %v; experiment ended at %v",
				ready, results.Start+results.Duration, exp.Start+exp.Duration)
		}
	}
}

// TestManyRequests runs many requests at once through each shared Executor,
// for the race detector and the pooled Results.
func TestManyRequests(t *testing.T) {
	p := compileResults(t)
	for _, mode := range Modes {
		e := newExecutor(t, mode, Options{PoolSize: 3})
		var wg sync.WaitGroup
		for k := range 32 {
			wg.Go(func() {
				var d Doer = instantDoer{}
				if k%4 == 0 {
					d = explosiveDoer{status: map[string]int{"experiments": 404}}
				}
				r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, d)
				defer r.Release()
				want := k%4 != 0
				if got := r.Outcomes[p.Index("layer")].OK(); got != want {
					t.Errorf("%s: request %d: layer OK %v, want %v", mode, k, got, want)
				}
			})
		}
		wg.Wait()
	}
}

// TestBlockingSerialisesRequests checks the pitfall: two requests whose calls
// could all run at once take turns, one backend call at a time, while the
// concurrent mode overlaps them.
func TestBlockingSerialisesRequests(t *testing.T) {
	p := mustCompile(t, "twoCalls", []CallSpec{
		{Name: "a", Backend: "experiments", Path: "/a"},
		{Name: "b", Backend: "layers", Path: "/b"},
	}, nil)
	delay := map[string]time.Duration{"experiments": 15 * time.Millisecond, "layers": 15 * time.Millisecond}
	for _, tc := range []struct {
		mode    string
		overlap bool
	}{
		{ModeBlocking, false},
		{ModeConcurrent, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e := newExecutor(t, tc.mode, Options{})
			d := &recordingDoer{next: delayedDoer{delay: delay}}
			var wg sync.WaitGroup
			rs := make([]*Result, 2)
			for k := range rs {
				wg.Go(func() { rs[k] = e.Execute(t.Context(), p, nil, d) })
			}
			wg.Wait()
			calls := d.recorded()
			overlapping := 0
			for i := range calls {
				for j := i + 1; j < len(calls); j++ {
					if overlaps(calls[i], calls[j]) {
						overlapping++
					}
				}
			}
			if got := overlapping > 0; got != tc.overlap {
				t.Errorf("%d overlapping pairs among %d calls; want overlap %v", overlapping, len(calls), tc.overlap)
			}
			if tc.mode == ModeBlocking {
				var waited time.Duration
				for _, r := range rs {
					for _, o := range r.Outcomes {
						waited += o.Wait
					}
				}
				// Four 15ms calls in turn: they wait 15+30+45ms in all.
				if waited < 60*time.Millisecond {
					t.Errorf("calls waited %v for the lock in all, want about 90ms", waited)
				}
			}
			for _, r := range rs {
				r.Release()
			}
		})
	}
}

// TestDependencyFailure checks that dependents of a call that failed, answered
// non-2xx or lacked a field are not sent and say why, in every mode, while
// independent calls go on.
func TestDependencyFailure(t *testing.T) {
	p := compileResults(t)
	for _, tc := range []struct {
		name   string
		doer   explosiveDoer
		cause  error // errors.Is on the dependents' Err
		status int   // DependencyError.Status
		field  string
	}{
		{"transport error", explosiveDoer{fail: map[string]bool{"experiments": true}}, errExploded, 0, ""},
		{"not found", explosiveDoer{status: map[string]int{"experiments": 404}}, nil, 404, ""},
		{"server error", explosiveDoer{status: map[string]int{"experiments": 500}}, nil, 500, ""},
		// A body that is not JSON is the failure of the call that sent it,
		// which its dependents name without a field.
		{"malformed body", explosiveDoer{override: map[string][]byte{"experiments": []byte(`{"id":"42",`)}}, ErrMalformed, 200, ""},
		{"too deep a body", explosiveDoer{override: map[string][]byte{"experiments": []byte(`{"layer_id":"7","x":` +
			strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`)}}, ErrMalformed, 200, ""},
		{"a field read twice", explosiveDoer{override: map[string][]byte{"experiments": []byte(`{"layer_id":"7","project_id":"3","layer_id":"8"}`)}}, ErrMalformed, 200, ""},
		{"missing field", explosiveDoer{override: map[string][]byte{"experiments": []byte(`{"id":"42","project_id":"3"}`)}}, ErrField, 200, "layer_id"},
		{"field of the wrong type", explosiveDoer{override: map[string][]byte{"experiments": []byte(`{"layer_id":{"id":"7"},"project_id":"3"}`)}}, ErrField, 200, "layer_id"},
	} {
		for _, mode := range Modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				d := &recordingDoer{next: tc.doer}
				// RunAll: results, independent of the failure, must still run.
				r := newExecutor(t, mode, Options{PoolSize: 2, RunAll: true}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
				defer r.Release()
				layer := r.Outcomes[p.Index("layer")]
				var de *DependencyError
				if !errors.Is(layer.Err, ErrDependency) || !errors.As(layer.Err, &de) {
					t.Fatalf("layer: err %v, want ErrDependency", layer.Err)
				}
				if de.Call != "experiment" || de.Status != tc.status || de.Field != tc.field {
					t.Errorf("layer: %+v, want call experiment, status %d, field %q", de, tc.status, tc.field)
				}
				if tc.cause != nil && !errors.Is(layer.Err, tc.cause) {
					t.Errorf("layer: err %v does not wrap %v", layer.Err, tc.cause)
				}
				if tc.field != "" && (!strings.Contains(layer.Err.Error(), `"experiment"`) || !strings.Contains(layer.Err.Error(), `"layer_id"`)) {
					t.Errorf("layer: err %q does not name the call and the field", layer.Err)
				}
				if layer.Sent || layer.Duration != 0 {
					t.Errorf("layer was sent: %+v", layer)
				}
				if res := r.Outcomes[p.Index("results")]; !res.OK() {
					t.Errorf("results, independent of experiment, failed: %+v", res)
				}
				for _, c := range d.recorded() {
					if c.backend == "layers" {
						t.Errorf("layers was called: %s", c.path)
					}
				}
			})
		}
	}
}

// TestFailureCascades checks that a failure skips the whole chain behind it,
// each link naming its own dependency.
func TestFailureCascades(t *testing.T) {
	p := mustCompile(t, "chain", []CallSpec{
		{Name: "a", Backend: "experiments", Path: "/a"},
		{Name: "b", Backend: "experiments", Path: "/b/{a.id}"},
		{Name: "c", Backend: "experiments", Path: "/c/{b.id}"},
	}, nil)
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			r := newExecutor(t, mode, Options{PoolSize: 1}).Execute(t.Context(), p, nil, explosiveDoer{fail: map[string]bool{"experiments": true}})
			defer r.Release()
			var b, c *DependencyError
			if !errors.As(r.Outcomes[1].Err, &b) || b.Call != "a" || !errors.Is(b, errExploded) {
				t.Errorf("b: %v", r.Outcomes[1].Err)
			}
			if !errors.As(r.Outcomes[2].Err, &c) || c.Call != "b" || !errors.Is(c, errExploded) {
				t.Errorf("c: %v", r.Outcomes[2].Err)
			}
		})
	}
}

func TestMissingParameter(t *testing.T) {
	p := compileResults(t)
	for _, mode := range Modes {
		r := newExecutor(t, mode, Options{}).Execute(t.Context(), p, ParamMap{}, instantDoer{})
		if err := r.Outcomes[p.Index("experiment")].Err; !errors.Is(err, ErrParam) {
			t.Errorf("%s: experiment err %v, want ErrParam", mode, err)
		}
		if err := r.Outcomes[p.Index("layer")].Err; !errors.Is(err, ErrDependency) {
			t.Errorf("%s: layer err %v, want ErrDependency", mode, err)
		}
		r.Release()
	}
}

// TestDeadline checks that Execute returns when the request's deadline passes,
// with the calls in flight ended by the Doer and the calls not yet started
// given ctx.Err() without being sent.
func TestDeadline(t *testing.T) {
	p := mustCompile(t, "slowChain", []CallSpec{
		{Name: "slow", Backend: "experiments", Path: "/slow"},
		{Name: "after", Backend: "layers", Path: "/after/{slow.id}"},
		{Name: "quick", Backend: "projects", Path: "/quick"},
	}, nil)
	slow := 300 * time.Millisecond
	d := delayedDoer{delay: map[string]time.Duration{"experiments": slow}}
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			r := newExecutor(t, mode, Options{}).Execute(ctx, p, nil, d)
			defer r.Release()
			if r.Total >= slow/2 {
				t.Errorf("Execute took %v, want it to end soon after the 20ms deadline, well before the slow call's %v", r.Total, slow)
			}
			if o := r.Outcomes[p.Index("slow")]; !errors.Is(o.Err, context.DeadlineExceeded) || !o.Sent {
				t.Errorf("slow: %+v, want sent and ended by the deadline", o)
			}
			if o := r.Outcomes[p.Index("after")]; !errors.Is(o.Err, ErrDependency) || o.Sent {
				t.Errorf("after: %+v, want not sent, ErrDependency", o)
			}
		})
	}
}

// TestDoneContextSendsNothing checks that no call starts once ctx is done.
func TestDoneContextSendsNothing(t *testing.T) {
	p := compileResults(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, mode := range Modes {
		d := &recordingDoer{next: instantDoer{}}
		r := newExecutor(t, mode, Options{}).Execute(ctx, p, ParamMap{"experiment_id": "1"}, d)
		if n := len(d.recorded()); n != 0 {
			t.Errorf("%s: %d calls sent after ctx was done", mode, n)
		}
		for i, o := range r.Outcomes {
			if o.Err == nil || o.Sent {
				t.Errorf("%s: call %d: %+v, want not sent, with an error", mode, i, o)
			}
		}
		if err := r.Outcomes[p.Index("results")].Err; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: results err %v, want context.Canceled", mode, err)
		}
		r.Release()
	}
}

// TestCallTimeout checks that the Doer's context carries the smaller of the
// call's timeout and the request's remaining deadline.
func TestCallTimeout(t *testing.T) {
	p := mustCompile(t, "timed", []CallSpec{
		{Name: "short", Backend: "experiments", Path: "/s", Timeout: 30 * time.Millisecond},
		{Name: "long", Backend: "layers", Path: "/l", Timeout: time.Hour},
		{Name: "none", Backend: "projects", Path: "/n"},
	}, nil)
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			deadline := time.Now().Add(time.Minute)
			ctx, cancel := context.WithDeadline(t.Context(), deadline)
			defer cancel()
			d := &recordingDoer{next: delayedDoer{delay: map[string]time.Duration{"experiments": 10 * time.Second}}}
			r := newExecutor(t, mode, Options{}).Execute(ctx, p, nil, d)
			defer r.Release()
			if o := r.Outcomes[p.Index("short")]; !errors.Is(o.Err, context.DeadlineExceeded) || o.Duration >= time.Second {
				t.Errorf("short: %+v, want ended by its 30ms timeout", o)
			}
			for _, c := range d.recorded() {
				switch c.path {
				case "/s":
					if !c.deadline.Before(deadline) || c.deadline.Sub(c.begin) > time.Second {
						t.Errorf("short: Doer deadline %v after start, want about 30ms", c.deadline.Sub(c.begin))
					}
				case "/l", "/n":
					if !c.deadline.Equal(deadline) {
						t.Errorf("%s: Doer deadline %v, want the request's %v", c.path, c.deadline, deadline)
					}
				}
			}
		})
	}
}

// TestNoGoroutineLeak runs every mode through success, failure and deadline
// and checks that no goroutine outlives Execute.
func TestNoGoroutineLeak(t *testing.T) {
	p := compileResults(t)
	executors := make([]Executor, 0, len(Modes))
	for _, mode := range Modes {
		executors = append(executors, newExecutor(t, mode, Options{PoolSize: 2}))
	}
	// Executors are created first; count after them.
	before := liveGoroutines()
	doers := []Doer{
		instantDoer{},
		explosiveDoer{fail: map[string]bool{"results": true}, status: map[string]int{"experiments": 503}},
		delayedDoer{delay: map[string]time.Duration{"experiments": time.Second, "results": time.Second}},
	}
	for _, e := range executors {
		for _, d := range doers {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
			e.Execute(ctx, p, ParamMap{"experiment_id": "1"}, d).Release()
			cancel()
		}
	}
	after := goroutinesBackTo(before)
	if after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// goroutinesBackTo waits, for a second at most, until no more than before
// goroutines run, and returns how many run then: the goroutines of a call
// end shortly after it returns.
func goroutinesBackTo(before int) int {
	after := liveGoroutines()
	for deadline := time.Now().Add(time.Second); after > before && time.Now().Before(deadline); after = liveGoroutines() {
		time.Sleep(poll.Every)
	}
	return after
}

// TestPoolClose checks that a closed pool leaves no goroutine behind and refuses calls.
func TestPoolClose(t *testing.T) {
	before := liveGoroutines()
	e, err := New(ModePool, Options{PoolSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	e.(io.Closer).Close()
	after := goroutinesBackTo(before)
	if after > before {
		t.Errorf("%d goroutines before New, %d after Close", before, after)
	}
	r := e.Execute(t.Context(), compileResults(t), ParamMap{"experiment_id": "1"}, instantDoer{})
	defer r.Release()
	if err := r.Outcomes[0].Err; !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: err %v, want ErrClosed", err)
	}
}

// TestResultReuse checks that a released Result comes back clean.
func TestResultReuse(t *testing.T) {
	p := compileResults(t)
	e := newExecutor(t, ModeConcurrent, Options{})
	failed := e.Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, explosiveDoer{fail: map[string]bool{"experiments": true}})
	failed.Release()
	failed.Release() // harmless
	for range 3 {
		r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, instantDoer{})
		for i, o := range r.Outcomes {
			if !o.OK() {
				t.Fatalf("call %d after reuse: %+v", i, o)
			}
		}
		r.Release()
	}
}

// TestDoerPanic checks that a panicking Doer fails its call (and its
// dependents) instead of the process, in every mode. RunAll lets the
// independent results call answer anyway.
func TestDoerPanic(t *testing.T) {
	p := compileResults(t)
	for _, mode := range Modes {
		r := newExecutor(t, mode, Options{PoolSize: 1, RunAll: true}).Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, panickyDoer{panics: map[string]bool{"experiments": true}})
		if err := r.Outcomes[p.Index("experiment")].Err; !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), `"experiment"`) {
			t.Errorf("%s: experiment err %v, want ErrPanic naming the call", mode, err)
		}
		if err := r.Outcomes[p.Index("layer")].Err; !errors.Is(err, ErrDependency) {
			t.Errorf("%s: layer err %v, want ErrDependency", mode, err)
		}
		if o := r.Outcomes[p.Index("results")]; !o.OK() {
			t.Errorf("%s: results %+v, want it answered", mode, o)
		}
		r.Release()
	}
}

// TestNilParams checks that a plan with parameters run without Params fails
// its calls instead of panicking. RunAll lets every call report ErrParam.
func TestNilParams(t *testing.T) {
	p := compileResults(t)
	r := newExecutor(t, ModeConcurrent, Options{RunAll: true}).Execute(t.Context(), p, nil, instantDoer{})
	defer r.Release()
	if err := r.Outcomes[p.Index("results")].Err; !errors.Is(err, ErrParam) {
		t.Errorf("results err %v, want ErrParam", err)
	}
}

// TestPoolDeadlineWithdrawsQueuedCalls checks that a request whose calls wait
// behind another request's slow call returns at its own deadline, its queued
// calls withdrawn unsent, while the other request goes on.
func TestPoolDeadlineWithdrawsQueuedCalls(t *testing.T) {
	p := compileResults(t)
	e := newExecutor(t, ModePool, Options{PoolSize: 1})
	slow := 200 * time.Millisecond
	started := make(chan struct{}, 1)
	// The second request comes once the slow call holds the only slot: the
	// order of calls of one request that are ready at the same instant is
	// up to the Go scheduler.
	hog := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if backend == "experiments" {
			select {
			case started <- struct{}{}:
			default:
			}
		}
		return delayedDoer{delay: map[string]time.Duration{"experiments": slow}}.Do(ctx, backend, method, path)
	})
	var wg sync.WaitGroup
	var first *Result
	wg.Go(func() { first = e.Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, hog) })
	<-started

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	d := &recordingDoer{next: instantDoer{}}
	second := e.Execute(ctx, p, ParamMap{"experiment_id": "2"}, d)
	defer second.Release()
	if second.Total >= slow/2 {
		t.Errorf("the queued request took %v, want it back soon after its 20ms deadline, well before the hog's %v", second.Total, slow)
	}
	if n := len(d.recorded()); n != 0 {
		t.Errorf("%d calls of the queued request were sent after its deadline", n)
	}
	for _, name := range []string{"experiment", "results"} {
		o := second.Outcomes[p.Index(name)]
		if !errors.Is(o.Err, context.DeadlineExceeded) || o.Sent || o.Wait <= 0 {
			t.Errorf("%s: %+v, want withdrawn: DeadlineExceeded, not sent, having waited", name, o)
		}
	}
	wg.Wait()
	defer first.Release()
	for i, o := range first.Outcomes {
		if !o.OK() {
			t.Errorf("the hogging request's call %d: %+v", i, o)
		}
	}
}

// waiting returns how many calls wait in the queue for a slot.
func (s *slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) - s.head
}

// TestPoolQueueHoldsNoGoroutine checks that calls waiting for a slot hold no
// goroutine: with two slots held by blocked calls and dozens of calls
// queued behind them, the goroutines grow by about the pool size, not by the
// number of waiting calls. Once the blocked calls return, the queued ones run
// in order of arrival, each having waited.
func TestPoolQueueHoldsNoGoroutine(t *testing.T) {
	const size, width = 2, 40
	p := widePlan(t, width)
	e := newExecutor(t, ModePool, Options{PoolSize: size})
	release := make(chan struct{})
	var inDoer sync.WaitGroup
	inDoer.Add(size)
	var entered atomic.Int32
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if backend == "layers" && entered.Add(1) <= size {
			inDoer.Done()
			<-release
		}
		return instantDoer{}.Do(ctx, backend, method, path)
	})
	before := liveGoroutines()
	done := make(chan *Result, 1)
	go func() { done <- e.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d) }()
	inDoer.Wait()
	// The calls not yet queued are queued at once by a goroutine that is
	// not waiting: count the goroutines once every one of them waits.
	poll.Until(t, 10*time.Second, "the calls to queue", func() bool {
		return e.(*pool).slots.waiting() == width-1-size
	})
	during := liveGoroutines() - before
	t.Logf("%d goroutines more while the calls waited", during)
	close(release)
	r := <-done
	defer r.Release()
	// The Execute goroutine, and the pool's: at most size of them (one
	// may be the Execute goroutine itself). The slack is for the runtime.
	if limit := 1 + size + 2; during > limit {
		t.Errorf("%d goroutines more while %d calls waited for %d slots, want at most %d", during, width-1-size, size, limit)
	}
	waited := 0
	for i, o := range r.Outcomes {
		if !o.OK() {
			t.Errorf("call %d: %+v", i, o)
		}
		if o.Wait > 0 {
			waited++
		}
	}
	if waited < width-1-size {
		t.Errorf("%d calls waited, want at least the %d queued", waited, width-1-size)
	}
}

// TestPoolWithdrawRacesHandoff runs many requests with deadlines short enough
// to end while their calls are queued or being handed a slot, on a pool of
// one. Whichever wins, a call runs or is withdrawn, once: no call reaches the
// Doer after its Execute returned, every unsent call says why, and the slot
// comes back (a later request gets it). The race detector watches the runs
// reused from the pool.
func TestPoolWithdrawRacesHandoff(t *testing.T) {
	p := widePlan(t, 6)
	e := newExecutor(t, ModePool, Options{PoolSize: 1})
	type returnedKey struct{}
	var late atomic.Int32
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if ctx.Value(returnedKey{}).(*atomic.Bool).Load() {
			late.Add(1)
		}
		return delayedDoer{delay: map[string]time.Duration{"layers": 50 * time.Microsecond}}.Do(ctx, backend, method, path)
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 40 {
				returned := new(atomic.Bool)
				ctx := context.WithValue(t.Context(), returnedKey{}, returned)
				ctx, cancel := context.WithTimeout(ctx, time.Duration((g*40+k)%7)*100*time.Microsecond)
				r := e.Execute(ctx, p, ParamMap{"experiment_id": "42"}, d)
				returned.Store(true)
				cancel()
				for i, o := range r.Outcomes {
					if !o.Sent && o.Err == nil {
						t.Errorf("call %d neither sent nor failed: %+v", i, o)
					}
				}
				r.Release()
			}
		})
	}
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Errorf("%d calls reached the Doer after their Execute returned", n)
	}
	r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, instantDoer{})
	defer r.Release()
	for i, o := range r.Outcomes {
		if !o.OK() {
			t.Errorf("after the race, call %d: %+v", i, o)
		}
	}
}
