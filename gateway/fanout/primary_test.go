package fanout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAbortSparesThePrimary: a required call's failure does not cancel the
// primary call in flight, whose answer decides the status (an experiment
// that does not exist is a 404, whatever its results call says), while the
// calls not sent yet are still never sent.
func TestAbortSparesThePrimary(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	for i := range calls {
		calls[i].Primary = calls[i].Name == "experiment"
	}
	p := mustCompile(t, "getExperimentResults", calls, resultsParams)
	const delay = 100 * time.Millisecond
	for _, mode := range []string{ModeStaged, ModeConcurrent, ModePool} {
		t.Run(mode, func(t *testing.T) {
			s := &slowDoer{delay: map[string]time.Duration{"experiments": delay, "results": delay / 5}}
			// results fails while the experiment is surely in flight.
			d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
				status, body, err := s.Do(ctx, backend, method, path)
				if backend == "results" && err == nil {
					status = 404
				}
				return status, body, err
			})
			r := newExecutor(t, mode, Options{PoolSize: 2}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
			defer r.Release()
			if o := r.Outcomes[p.Index("experiment")]; !o.Sent || !o.OK() {
				t.Errorf("experiment: %+v, want its answer", o)
			}
			for _, name := range []string{"layer", "settings"} {
				if o := r.Outcomes[p.Index(name)]; o.Sent || !errors.Is(o.Err, ErrAborted) {
					t.Errorf("%s: %+v, want not sent, aborted", name, o)
				}
			}
			if called, cancelled := s.calls(); len(cancelled) != 0 || !slices.Equal(called, []string{"experiments", "results"}) {
				t.Errorf("called %v, cancelled %v; want the experiment and results, none cancelled", called, cancelled)
			}
		})
	}
}

// TestAbortSendsThePrimaryStillWaiting: a primary that had not been sent
// when a sibling failed (sequential mode sends it after the sibling; a pool
// of one holds it at the gate) is still sent, since only its answer can
// tell a missing experiment (404) from a failed page (502).
func TestAbortSendsThePrimaryStillWaiting(t *testing.T) {
	// results first, so that it goes before the experiment.
	var calls []CallSpec
	for _, c := range resultsCalls {
		c.Primary = c.Name == "experiment"
		if c.Name == "results" {
			calls = append([]CallSpec{c}, calls...)
		} else {
			calls = append(calls, c)
		}
	}
	p := mustCompile(t, "getExperimentResults", calls, resultsParams)
	if p.Index("results") > p.Index("experiment") {
		t.Fatalf("results at %d, experiment at %d: the test needs results first", p.Index("results"), p.Index("experiment"))
	}
	for _, mode := range []string{ModeSequential, ModePool} {
		t.Run(mode, func(t *testing.T) {
			d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
				if backend == "results" {
					return 404, []byte(`{}`), nil
				}
				return 404, []byte(`{"error":"no such experiment"}`), nil
			})
			r := newExecutor(t, mode, Options{PoolSize: 1}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
			defer r.Release()
			if o := r.Outcomes[p.Index("experiment")]; !o.Sent || o.Status != 404 {
				t.Errorf("experiment: %+v, want it sent and its 404", o)
			}
		})
	}
}
