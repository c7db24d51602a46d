package fanout

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// failingDoer answers the backends in fail at once, with that status, or
// with a transport error where the status is 0; it passes the other calls
// to next.
type failingDoer struct {
	fail map[string]int
	next Doer
}

func (d failingDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	status, ok := d.fail[backend]
	switch {
	case !ok:
		return d.next.Do(ctx, backend, method, path)
	case status == 0:
		return 0, nil, errExploded
	}
	return status, []byte(`{"error":"failed"}`), nil
}

// slowDoer answers every backend after its delay, unless the context ends
// first, and records which backends were called and which of those calls
// the context cut short.
type slowDoer struct {
	delay     map[string]time.Duration
	mu        sync.Mutex
	called    []string
	cancelled []string
}

func (d *slowDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	d.mu.Lock()
	d.called = append(d.called, backend)
	d.mu.Unlock()
	t := time.NewTimer(d.delay[backend])
	defer t.Stop()
	select {
	case <-t.C:
		return 200, bodies[backend], nil
	case <-ctx.Done():
		d.mu.Lock()
		d.cancelled = append(d.cancelled, backend)
		d.mu.Unlock()
		return 0, nil, ctx.Err()
	}
}

// calls returns the backends called and those cut short, sorted.
func (d *slowDoer) calls() (called, cancelled []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	called, cancelled = slices.Clone(d.called), slices.Clone(d.cancelled)
	slices.Sort(called)
	slices.Sort(cancelled)
	return called, cancelled
}

// checkAborted fails the test unless o is a call cut short by the failure
// of the call named by.
func checkAborted(t *testing.T, name string, o Outcome, by string) {
	t.Helper()
	var ae *AbortError
	if !errors.Is(o.Err, ErrAborted) || !errors.As(o.Err, &ae) || ae.Call != by || !errors.Is(o.Err, context.Canceled) {
		t.Errorf("%s: err %v, want an *AbortError naming %q and wrapping context.Canceled", name, o.Err, by)
	}
}

// TestRequiredFailureCancelsSiblings: when a required call fails, in every
// mode that runs calls side by side, Execute returns at once: the sibling
// in flight sees its context cancelled and says why, and the calls that
// were waiting for it are never sent. A transport error and a non-2xx
// status both fail the request, so both abort.
func TestRequiredFailureCancelsSiblings(t *testing.T) {
	p := compileResults(t)
	slow := time.Second
	for _, failure := range []struct {
		name   string
		status int
	}{{"transport error", 0}, {"status 500", 500}, {"status 404", 404}} {
		for _, mode := range []string{ModeStaged, ModeConcurrent, ModePool} {
			t.Run(failure.name+"/"+mode, func(t *testing.T) {
				s := &slowDoer{delay: map[string]time.Duration{"experiments": slow, "layers": slow, "projects": slow}}
				d := failingDoer{fail: map[string]int{"results": failure.status}, next: s}
				// Two slots, so that the pool runs the two roots side by side.
				r := newExecutor(t, mode, Options{PoolSize: 2}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
				defer r.Release()
				if r.Total > slow/4 {
					t.Errorf("Execute took %v, want it to end soon after results failed, long before the experiment's %v", r.Total, slow)
				}
				if o := r.Outcomes[p.Index("results")]; o.OK() || errors.Is(o.Err, ErrAborted) {
					t.Errorf("results: %+v, want its own failure", o)
				}
				// The experiment was cancelled in flight, or, if results
				// failed before its goroutine ran, never sent.
				checkAborted(t, "experiment", r.Outcomes[p.Index("experiment")], "results")
				for _, name := range []string{"layer", "settings"} {
					o := r.Outcomes[p.Index(name)]
					if o.Sent || !errors.Is(o.Err, ErrAborted) {
						t.Errorf("%s: %+v, want not sent, aborted", name, o)
					}
				}
				called, cancelled := s.calls()
				if len(called) > 1 || !slices.Equal(called, cancelled) {
					t.Errorf("called %v, cancelled %v; want at most the experiment, cancelled", called, cancelled)
				}
				if exp := r.Outcomes[p.Index("experiment")]; exp.Sent != (len(called) == 1) {
					t.Errorf("experiment: Sent %v, but the backend saw %v", exp.Sent, called)
				}
			})
		}
	}
}

// TestRequiredFailureStopsSending: a required call that fails before it is
// sent (here, a parameter is missing) aborts the run too; in every mode,
// the slow call in flight is cancelled and the ones launched but not yet
// started (waiting for a pool slot or the blocking lock) are not sent.
// (The sequential mode would have sent the slow calls, which come first,
// before it reached the broken one: TestSequentialStopsAtFailure.)
func TestRequiredFailureStopsSending(t *testing.T) {
	calls := []CallSpec{
		{Name: "slow1", Backend: "experiments", Path: "/slow/1"},
		{Name: "slow2", Backend: "experiments", Path: "/slow/2"},
		{Name: "slow3", Backend: "experiments", Path: "/slow/3"},
		{Name: "broken", Backend: "results", Path: "/broken/{missing}"},
	}
	p := mustCompile(t, "broken", calls, []string{"missing"})
	slow := time.Second
	for _, mode := range []string{ModeStaged, ModeConcurrent, ModePool, ModeBlocking} {
		t.Run(mode, func(t *testing.T) {
			s := &slowDoer{delay: map[string]time.Duration{"experiments": slow}}
			r := newExecutor(t, mode, Options{PoolSize: 1}).Execute(t.Context(), p, ParamMap{}, s)
			defer r.Release()
			if r.Total > slow/4 {
				t.Errorf("Execute took %v, want it to end long before one slow call's %v", r.Total, slow)
			}
			if o := r.Outcomes[p.Index("broken")]; !errors.Is(o.Err, ErrParam) {
				t.Errorf("broken: err %v, want ErrParam", o.Err)
			}
			called, cancelled := s.calls()
			// The slow calls are launched before the broken one fails, and
			// those that started were cancelled. In the pool (one slot)
			// and blocking modes, which queue them, at most one started.
			if !slices.Equal(called, cancelled) {
				t.Errorf("called %v, cancelled %v: want every slow call sent cancelled", called, cancelled)
			}
			if queued := mode == ModePool || mode == ModeBlocking; queued && len(called) > 1 {
				t.Errorf("called %v: want at most one slow call sent", called)
			}
			for _, name := range []string{"slow1", "slow2", "slow3"} {
				checkAborted(t, name, r.Outcomes[p.Index(name)], "broken")
			}
		})
	}
}

// TestSequentialStopsAtFailure: the sequential mode sends nothing after a
// required call failed.
func TestSequentialStopsAtFailure(t *testing.T) {
	p := compileResults(t)
	d := &recordingDoer{next: failingDoer{fail: map[string]int{"experiments": 500}, next: instantDoer{}}}
	r := newExecutor(t, ModeSequential, Options{}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
	defer r.Release()
	if n := len(d.recorded()); n != 1 {
		t.Errorf("%d calls sent, want only the experiment", n)
	}
	res := r.Outcomes[p.Index("results")]
	if res.Sent {
		t.Errorf("results sent: %+v", res)
	}
	checkAborted(t, "results", res, "experiment")
}

// TestNoAbortWithoutRequiredFailure: what does not fail the request does
// not cut it short: an optional call's failure leaves its siblings running,
// and so does any failure when the caller asked for every outcome
// (Options.RunAll).
func TestNoAbortWithoutRequiredFailure(t *testing.T) {
	p := compileResults(t) // settings is optional
	delay := 30 * time.Millisecond
	for _, tc := range []struct {
		name   string
		fail   string
		runAll bool
	}{
		{"optional call fails", "projects", false},
		{"required call fails, RunAll", "experiments", true},
	} {
		for _, mode := range Modes {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				s := &slowDoer{delay: map[string]time.Duration{"results": delay, "layers": delay}}
				d := failingDoer{fail: map[string]int{tc.fail: 503}, next: s}
				r := newExecutor(t, mode, Options{PoolSize: 2, RunAll: tc.runAll}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
				defer r.Release()
				if o := r.Outcomes[p.Index("results")]; !o.OK() {
					t.Errorf("results: %+v, want it answered", o)
				}
				for i, o := range r.Outcomes {
					if errors.Is(o.Err, ErrAborted) {
						t.Errorf("call %d aborted: %v", i, o.Err)
					}
				}
				if _, cancelled := s.calls(); len(cancelled) > 0 {
					t.Errorf("cancelled %v, want none", cancelled)
				}
			})
		}
	}
}

// TestCallerCancelIsNotAbort: when the caller's context ends, the calls
// cut short report the context's error, not an abort, though the required
// call that fails first would otherwise abort the run.
func TestCallerCancelIsNotAbort(t *testing.T) {
	p := compileResults(t)
	slow := time.Second
	for _, mode := range []string{ModeStaged, ModeConcurrent, ModePool} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			s := &slowDoer{delay: map[string]time.Duration{"experiments": slow, "results": slow}}
			r := newExecutor(t, mode, Options{PoolSize: 2}).Execute(ctx, p, ParamMap{"experiment_id": "42"}, s)
			defer r.Release()
			for _, name := range []string{"experiment", "results"} {
				if o := r.Outcomes[p.Index(name)]; !errors.Is(o.Err, context.DeadlineExceeded) || errors.Is(o.Err, ErrAborted) {
					t.Errorf("%s: err %v, want the deadline, not an abort", name, o.Err)
				}
			}
		})
	}
}

// TestAbortCancelsCallsWithTimeout: a call with its own timeout has its own
// context, which the abort cancels too.
func TestAbortCancelsCallsWithTimeout(t *testing.T) {
	p := mustCompile(t, "timeouts", []CallSpec{
		{Name: "slow", Backend: "experiments", Path: "/slow", Timeout: time.Minute},
		{Name: "broken", Backend: "results", Path: "/broken"},
	}, nil)
	slow := time.Second
	for _, mode := range []string{ModeStaged, ModeConcurrent, ModePool} {
		t.Run(mode, func(t *testing.T) {
			s := &slowDoer{delay: map[string]time.Duration{"experiments": slow}}
			// The failure waits for the slow call to be in flight.
			d := failingDoer{fail: map[string]int{"results": 502}, next: s}
			late := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
				for end := time.Now().Add(slow / 8); backend == "results" && time.Now().Before(end); time.Sleep(time.Millisecond) {
					if called, _ := s.calls(); len(called) > 0 {
						break
					}
				}
				return d.Do(ctx, backend, method, path)
			})
			r := newExecutor(t, mode, Options{PoolSize: 2}).Execute(t.Context(), p, nil, late)
			defer r.Release()
			if r.Total > slow/4 {
				t.Errorf("Execute took %v, want it to end soon after broken failed, long before slow's %v", r.Total, slow)
			}
			checkAborted(t, "slow", r.Outcomes[p.Index("slow")], "broken")
			if _, cancelled := s.calls(); !slices.Equal(cancelled, []string{"experiments"}) {
				t.Errorf("cancelled %v, want the slow call", cancelled)
			}
		})
	}
}
