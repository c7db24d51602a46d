package fanout

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// tracingMiddleware records in trace, under its name, each call that passes
// through it on its way in and on its way out.
func tracingMiddleware(name string, mu *sync.Mutex, trace *[]string) Middleware {
	return func(next Doer) Doer {
		return DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
			mu.Lock()
			*trace = append(*trace, name+" in "+backend)
			mu.Unlock()
			status, body, err := next.Do(ctx, backend, method, path)
			mu.Lock()
			*trace = append(*trace, name+" out "+backend)
			mu.Unlock()
			return status, body, err
		})
	}
}

// TestChain checks that Chain wraps the first middleware outermost, so a
// call meets them in the order given and leaves in the reverse, and that an
// Executor runs its calls through the chain.
func TestChain(t *testing.T) {
	var mu sync.Mutex
	var trace []string
	d := Chain(instantDoer{}, tracingMiddleware("outer", &mu, &trace), tracingMiddleware("inner", &mu, &trace))
	p, err := Compile("getExperiment", resultsCalls[:1], resultsParams)
	if err != nil {
		t.Fatal(err)
	}
	r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d)
	defer r.Release()
	if o := r.Outcomes[0]; !o.OK() {
		t.Fatalf("experiment: %+v", o)
	}
	want := []string{"outer in experiments", "inner in experiments", "inner out experiments", "outer out experiments"}
	if !slices.Equal(trace, want) {
		t.Errorf("trace %q, want %q", trace, want)
	}
}

// TestChainOfNothing checks that Chain without middleware returns the Doer
// itself rather than a wrapper.
func TestChainOfNothing(t *testing.T) {
	d := &recordingDoer{next: instantDoer{}}
	if got := Chain(d); got != Doer(d) {
		t.Errorf("Chain(d) = %v, want d", got)
	}
}
