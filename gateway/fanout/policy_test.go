package fanout

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// tracingPolicy records in trace, under its name, each call that passes
// through it, before and after the rest of the call's way.
type tracingPolicy struct {
	name  string
	mu    *sync.Mutex
	trace *[]string
}

func (p tracingPolicy) Do(ctx context.Context, c *Call, path string, next Next) (int, []byte, Via, error) {
	p.mu.Lock()
	*p.trace = append(*p.trace, p.name+" "+c.Spec.Name+" "+path)
	p.mu.Unlock()
	status, body, via, err := next.Do(ctx, path)
	p.mu.Lock()
	*p.trace = append(*p.trace, p.name+" done")
	p.mu.Unlock()
	return status, body, via, err
}

// cachedPolicy answers every call itself, as a cache would.
type cachedPolicy struct{}

func (cachedPolicy) Do(context.Context, *Call, string, Next) (int, []byte, Via, error) {
	return 200, nil, ViaCache, nil
}

// TestPolicyDoerOrder checks that the engine passes each call through its
// own policies, the first outermost, then the request's Doer; that a call
// without policies goes straight to the Doer; and that the way an inner
// policy answered comes out to the Outcome.
func TestPolicyDoerOrder(t *testing.T) {
	p := experimentPlan(t, "GET")
	var mu sync.Mutex
	var trace []string
	pol := func(name string) Policy { return tracingPolicy{name, &mu, &trace} }
	for _, tc := range []struct {
		name      string
		policies  [][]Policy
		want      []string
		wantVia   Via
		wantCalls int
	}{
		// Outer, then inner, then the Doer, and back out in reverse.
		{"two policies", [][]Policy{{pol("outer"), pol("inner")}}, []string{"outer experiment /experiments/42", "inner experiment /experiments/42", "inner done", "outer done"}, ViaCall, 1},
		// The inner policy answers: the Doer is not called, the Via is its.
		{"inner answers", [][]Policy{{pol("outer"), cachedPolicy{}}}, []string{"outer experiment /experiments/42", "outer done"}, ViaCache, 0},
		// No policies for the call: the Doer alone.
		{"none", [][]Policy{nil}, nil, ViaCall, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trace = nil
			d := &strayDoer{} // no strays: it counts the calls and answers right
			r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, &PolicyDoer{Next: d, Policies: tc.policies})
			defer r.Release()
			if !slices.Equal(trace, tc.want) {
				t.Errorf("trace %q, want %q", trace, tc.want)
			}
			if o := r.Outcomes[0]; o.Via != tc.wantVia {
				t.Errorf("via %v, want %v", o.Via, tc.wantVia)
			}
			if n := int(d.calls.Load()); n != tc.wantCalls {
				t.Errorf("Doer saw %d calls, want %d", n, tc.wantCalls)
			}
		})
	}
}
