package fanout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAnswerChecks: with Identify and Required, an answer for another
// resource than the one its path asked for, or without a field the
// document requires, or giving a field read twice, is the call's failure
// (ErrMalformed) and fills no dependent's path; a right answer passes, by
// the field named after the reference or by "id".
func TestAnswerChecks(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	for i := range calls {
		calls[i].Identify = true
	}
	calls[0].Required = []string{"name", "status"}
	p := mustCompile(t, "getExperimentResults", calls, resultsParams)
	for _, tc := range []struct {
		name    string
		backend string // whose answer is replaced
		body    string
		failed  string // the call that fails as malformed; "" for none
		notSent []string
	}{
		{"right answers", "", "", "", nil},
		{"an experiment for another id", "experiments", `{"id":"43","project_id":"3","layer_id":"7","name":"n","status":"s"}`, "experiment", []string{"layer", "settings"}},
		{"an experiment id as a number", "experiments", `{"id":42,"project_id":"3","layer_id":"7","name":"n","status":"s"}`, "", nil},
		{"an experiment without a required field", "experiments", `{"id":"42","project_id":"3","layer_id":"7","name":"n"}`, "experiment", []string{"layer", "settings"}},
		{"an experiment giving its project twice", "experiments", `{"id":"42","project_id":"1","layer_id":"7","name":"n","status":"s","project_id":"3"}`, "experiment", []string{"layer", "settings"}},
		{"an experiment without an id", "experiments", `{"project_id":"3","layer_id":"7","name":"n","status":"s"}`, "experiment", []string{"layer", "settings"}},
		{"a layer for another layer", "layers", `{"id":"8","name":"web"}`, "layer", nil},
		{"results named after the reference", "results", `{"experiment_id":"42","id":"something else"}`, "", nil},
		{"results for another experiment", "results", `{"experiment_id":"41","variants":[]}`, "results", nil},
		{"settings for another project", "projects", `{"project_id":"4"}`, "settings", nil},
		{"an array answer", "layers", `[{"id":"7"}]`, "layer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := explosiveDoer{override: map[string][]byte{}}
			if tc.backend != "" {
				d.override[tc.backend] = []byte(tc.body)
			}
			r := newExecutor(t, ModeConcurrent, Options{RunAll: true}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
			defer r.Release()
			for _, c := range p.Calls() {
				o := r.Outcomes[c.Index]
				switch name := c.Spec.Name; {
				case name == tc.failed:
					var ae *AnswerError
					if !errors.Is(o.Err, ErrMalformed) || !errors.As(o.Err, &ae) || ae.Call != name || !o.Sent {
						t.Errorf("%s: err %v, want its answer refused", name, o.Err)
					}
				case slices.Contains(tc.notSent, name):
					if o.Sent || !errors.Is(o.Err, ErrDependency) || !errors.Is(o.Err, ErrMalformed) {
						t.Errorf("%s: sent %v, err %v; want it not sent, its dependency malformed", name, o.Sent, o.Err)
					}
				case !o.OK():
					t.Errorf("%s: %+v, want it answered", name, o)
				}
			}
		})
	}
}

// lateDoer answers 200 with the right body after its delay, whatever its
// context says: a backend client that does not watch contexts.
type lateDoer struct{ delay time.Duration }

func (d lateDoer) Do(_ context.Context, backend, _, _ string) (int, []byte, error) {
	time.Sleep(d.delay)
	return 200, bodies[backend], nil
}

// TestAnswerPastDeadline: an answer that arrives after the call's deadline
// is not read: the call is a timeout, and its dependents are not sent.
func TestAnswerPastDeadline(t *testing.T) {
	p := compileResults(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	r := newExecutor(t, ModeConcurrent, Options{RunAll: true}).Execute(ctx, p, ParamMap{"experiment_id": "42"}, lateDoer{delay: 30 * time.Millisecond})
	defer r.Release()
	exp := r.Outcomes[p.Index("experiment")]
	if !errors.Is(exp.Err, context.DeadlineExceeded) || !exp.Sent {
		t.Errorf("experiment: err %v, want the deadline's", exp.Err)
	}
	if layer := r.Outcomes[p.Index("layer")]; layer.Sent {
		t.Errorf("layer was sent with a field of an answer read past the deadline")
	}
}
