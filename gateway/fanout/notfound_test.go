package fanout

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAllowNotFound: a required call that allows a 404 and gets one does
// not abort the run, in any mode: its siblings answer; any other status of
// that call still does (where a call is left to abort).
func TestAllowNotFound(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	for i := range calls {
		if calls[i].Name == "results" {
			calls[i].AllowNotFound = true
		}
	}
	p := mustCompile(t, "getExperimentResults", calls, resultsParams)
	delay := 30 * time.Millisecond
	for _, status := range []int{404, 500} {
		for _, mode := range Modes {
			t.Run(mode, func(t *testing.T) {
				s := &slowDoer{delay: map[string]time.Duration{"experiments": delay, "layers": delay, "projects": delay}}
				d := failingDoer{fail: map[string]int{"results": status}, next: s}
				r := newExecutor(t, mode, Options{PoolSize: 4}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
				defer r.Release()
				if o := r.Outcomes[p.Index("results")]; o.Err != nil || o.Status != status {
					t.Errorf("results: %+v, want its %d", o, status)
				}
				aborted := false
				for _, o := range r.Outcomes {
					aborted = aborted || errors.Is(o.Err, ErrAborted)
				}
				// The sequential mode sends results last: nothing is left
				// to abort.
				if want := status != 404 && mode != ModeSequential; aborted != want {
					t.Errorf("status %d: aborted %v, want %v", status, aborted, want)
				}
				if status == 404 && !r.Outcomes[p.Index("experiment")].OK() {
					t.Errorf("experiment: %+v, want it answered", r.Outcomes[p.Index("experiment")])
				}
			})
		}
	}
}
