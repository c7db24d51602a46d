package fanout

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var errNotYours = errors.New("not yours")

// refusingParams are request parameters whose Checker refuses the answer
// of one call and lets the others be.
type refusingParams struct {
	ParamMap
	refuse string
}

func (p refusingParams) Check(c *Call, status int, body []byte) error {
	if c.Spec.Name == p.refuse {
		return errNotYours
	}
	return nil
}

// TestCheckerRefusalEndsTheRun: an answer the caller's Checker refuses
// ends the run as it arrives, whether its call is required or optional:
// its dependents are never sent, the slow sibling in flight is cancelled,
// and the refused Outcome says why and keeps no body.
func TestCheckerRefusalEndsTheRun(t *testing.T) {
	p := compileResults(t)
	slow := time.Second
	for _, refuse := range []string{
		"experiment", // required: layer and settings depend on it
		"layer",      // optional: a refusal ends the run all the same
	} {
		modes := []string{ModeStaged, ModeConcurrent, ModePool}
		if refuse == "layer" {
			// Staged runs the layer after every call of level 0, the
			// results call included: nothing is left to cancel.
			modes = modes[1:]
		}
		for _, mode := range modes {
			t.Run(refuse+"/"+mode, func(t *testing.T) {
				s := &slowDoer{delay: map[string]time.Duration{"results": slow}}
				params := refusingParams{ParamMap: ParamMap{"experiment_id": "42"}, refuse: refuse}
				r := newExecutor(t, mode, Options{PoolSize: 4}).Execute(t.Context(), p, params, s)
				defer r.Release()
				if r.Total > slow/4 {
					t.Errorf("Execute took %v, want it to end soon after the refusal, long before the results' %v", r.Total, slow)
				}
				o := r.Outcomes[p.Index(refuse)]
				if !errors.Is(o.Err, ErrRefused) || !errors.Is(o.Err, errNotYours) || o.Body != nil || o.OK() {
					t.Errorf("%s: err %v, body %q, want ErrRefused wrapping the Checker's error, no body", refuse, o.Err, o.Body)
				}
				checkAborted(t, "results", r.Outcomes[p.Index("results")], refuse)
				if refuse == "experiment" {
					for _, name := range []string{"layer", "settings"} {
						if o := r.Outcomes[p.Index(name)]; o.Sent {
							t.Errorf("%s was sent after the experiment was refused", name)
						}
					}
				}
				// Cancelled in flight, or, if the refusal came before its
				// goroutine ran, never sent.
				if called, cancelled := s.calls(); slices.Contains(called, "results") && !slices.Contains(cancelled, "results") {
					t.Errorf("called %v, cancelled %v: results ran to its end", called, cancelled)
				}
			})
		}
	}
}
