package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
)

// strayDoer answers its first strays calls with the experiment its path
// did not ask for (the answer a connection out of step reads), then the
// right one, and remembers the bodies it was told were not its calls'.
type strayDoer struct {
	strays   int64
	calls    atomic.Int64
	mu       sync.Mutex
	disowned []string
}

var (
	strayExperiment = []byte(`{"id":"41","project_id":"3","layer_id":"7"}`)
	rightExperiment = []byte(`{"id":"42","project_id":"3","layer_id":"7"}`)
)

func (d *strayDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	if d.calls.Add(1) <= d.strays {
		return 200, strayExperiment, nil
	}
	return 200, rightExperiment, nil
}

func (d *strayDoer) Disown(body []byte) {
	d.mu.Lock()
	d.disowned = append(d.disowned, string(body))
	d.mu.Unlock()
}

// experimentPlan is a plan of one call that identifies its answer, made
// with method.
func experimentPlan(t *testing.T, method string) *Plan {
	t.Helper()
	p := mustCompile(t, "getExperiment", []CallSpec{{
		Name: "experiment", Backend: "experiments", Method: method,
		Path: "/experiments/{experiment_id}", Identify: true,
	}}, resultsParams)
	return p
}

// TestStrayAnswerAskedAgain: an answer for another resource than the one
// asked for says that the question was never answered; a GET call asks
// once more and delivers the second answer if it is right, a POST never
// does, and a second stray answer is the call's failure.
func TestStrayAnswerAskedAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		strays  int64
		calls   int64 // the backend calls made
		ok      bool  // the call delivers
		reasked bool
	}{
		// A GET asked again gets its own answer on the second try.
		{"GET, one stray", "GET", 1, 2, true, true},
		// A right answer is never asked for twice.
		{"GET, no stray", "GET", 0, 1, true, false},
		// Only once: a second stray answer fails the call.
		{"GET, two strays", "GET", 2, 2, false, true},
		// A create may have taken effect: it is never sent twice.
		{"POST, one stray", "POST", 1, 1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &strayDoer{strays: tc.strays}
			r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), experimentPlan(t, tc.method), ParamMap{"experiment_id": "42"}, d)
			defer r.Release()
			o := r.Outcomes[0]
			if n := d.calls.Load(); n != tc.calls {
				t.Errorf("backend saw %d calls, want %d", n, tc.calls)
			}
			if o.OK() != tc.ok || o.Reasked != tc.reasked {
				t.Errorf("outcome ok %v reasked %v (err %v), want ok %v reasked %v", o.OK(), o.Reasked, o.Err, tc.ok, tc.reasked)
			}
			if !tc.ok && !errors.Is(o.Err, ErrMalformed) {
				t.Errorf("err %v, want ErrMalformed", o.Err)
			}
			if tc.reasked && (len(d.disowned) == 0 || d.disowned[0] != string(strayExperiment)) {
				t.Errorf("disowned %q, want the stray answer, so that its connection carries no more calls", d.disowned)
			}
			if tc.method == "POST" && len(d.disowned) != 0 {
				t.Errorf("disowned %q for a POST", d.disowned)
			}
		})
	}
}

// TestStrayAnswerNeverCached: an answer the engine refuses is not kept by
// the call's cache, so that the next request asks the backend rather than
// get the stray answer again; the right answer that came on the second
// try is kept.
func TestStrayAnswerNeverCached(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strays int64
		hits   int64 // cache hits of the second request
	}{
		// Every answer is a stray: none is kept.
		{"only strays", 1 << 30, 0},
		// The answer asked again for is right, and kept.
		{"one stray", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCoalescer(false, time.Minute, 0)
			if err != nil {
				t.Fatal(err)
			}
			p := experimentPlan(t, "GET")
			d := &strayDoer{strays: tc.strays}
			for range 2 {
				pd := &PolicyDoer{Next: d, Policies: [][]Policy{{c}}}
				r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, pd)
				if o := r.Outcomes[0]; o.OK() && string(o.Body) != string(rightExperiment) {
					t.Errorf("served %s", o.Body)
				}
				r.Release()
			}
			if c.Hits() != tc.hits {
				t.Errorf("cache hits %d, want %d", c.Hits(), tc.hits)
			}
		})
	}
}

// TestStrayAnswerNotSharedAsGood: a stray answer that a coalesced call
// shares with its waiters is refused by each request as its own would be,
// and each asks again: every request gets the experiment it asked for.
func TestStrayAnswerNotSharedAsGood(t *testing.T) {
	c, err := NewCoalescer(true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := experimentPlan(t, "GET")
	open := make(chan struct{})
	var calls atomic.Int64
	// The first call waits until the others wait on it, then answers with
	// a stray experiment; later calls answer right.
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if calls.Add(1) == 1 {
			select {
			case <-open:
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			}
			return 200, strayExperiment, nil
		}
		return 200, rightExperiment, nil
	})
	const n = 3
	errs := make(chan error, n)
	e := newExecutor(t, ModeConcurrent, Options{})
	for range n {
		go func() {
			r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, &PolicyDoer{Next: d, Policies: [][]Policy{{c}}})
			defer r.Release()
			if o := r.Outcomes[0]; !o.OK() || string(o.Body) != string(rightExperiment) {
				errs <- fmt.Errorf("status %d body %s err %v, want the experiment asked for", o.Status, o.Body, o.Err)
				return
			}
			errs <- nil
		}()
	}
	poll.Until(t, 10*time.Second, "the waiters", func() bool { return c.waiting("/experiments/42") == n-1 })
	close(open)
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
