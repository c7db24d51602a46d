package fanout

import (
	"context"
	"sync"
	"testing"
)

// observedKey marks the context an observingParams returned.
type observedKey struct{}

// observingParams are ParamMap with an Observer that records, per call,
// what its StartCall and EndCall saw.
type observingParams struct {
	ParamMap
	mu      sync.Mutex
	started map[string]int
	ended   map[string]Outcome
	// marked: the Doer got the context StartCall returned, per backend.
	marked map[string]bool
}

func (p *observingParams) StartCall(ctx context.Context, c *Call) context.Context {
	p.mu.Lock()
	p.started[c.Spec.Name]++
	p.mu.Unlock()
	return context.WithValue(ctx, observedKey{}, c.Spec.Name)
}

func (p *observingParams) EndCall(ctx context.Context, c *Call, o *Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Value(observedKey{}) != c.Spec.Name {
		panic("EndCall got another context than StartCall returned")
	}
	p.ended[c.Spec.Name] = *o
}

// markedDoer records whether each call's context came from the Observer.
type markedDoer struct {
	p    *observingParams
	next Doer
}

func (d markedDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	d.p.mu.Lock()
	d.p.marked[backend] = ctx.Value(observedKey{}) != nil
	d.p.mu.Unlock()
	return d.next.Do(ctx, backend, method, path)
}

// TestObserverSeesEachCallSent: in every mode, an Observer's StartCall
// runs once for each call sent, and the Doer gets the context it returns;
// EndCall then sees the call's final Outcome; a call never sent (its
// dependency failed) is observed by neither.
func TestObserverSeesEachCallSent(t *testing.T) {
	p := compileResults(t)
	for _, mode := range Modes {
		t.Run(mode, func(t *testing.T) {
			params := &observingParams{ParamMap: ParamMap{"experiment_id": "42"},
				started: map[string]int{}, ended: map[string]Outcome{}, marked: map[string]bool{}}
			d := markedDoer{p: params, next: explosiveDoer{status: map[string]int{"layers": 500}}}
			r := newExecutor(t, mode, Options{PoolSize: 2, RunAll: true}).Execute(t.Context(), p, params, d)
			defer r.Release()
			for _, name := range []string{"experiment", "layer", "settings", "results"} {
				out := r.Outcomes[p.Index(name)]
				if !out.Sent {
					continue
				}
				if params.started[name] != 1 {
					t.Errorf("%s: StartCall ran %d times, want 1", name, params.started[name])
				}
				if got := params.ended[name]; got.Status != out.Status || got.Duration != out.Duration {
					t.Errorf("%s: EndCall saw status %d after %v, the Outcome is %d after %v", name, got.Status, got.Duration, out.Status, out.Duration)
				}
			}
			if params.ended["layer"].Status != 500 {
				t.Errorf("layer: EndCall saw %+v, want its 500", params.ended["layer"])
			}
			for _, backend := range []string{"experiments", "layers", "projects", "results"} {
				if !params.marked[backend] {
					t.Errorf("the call to %s did not get the Observer's context", backend)
				}
			}
		})
	}
	// A failed dependency leaves its dependents unsent and unobserved.
	params := &observingParams{ParamMap: ParamMap{"experiment_id": "42"},
		started: map[string]int{}, ended: map[string]Outcome{}, marked: map[string]bool{}}
	r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), p, params,
		explosiveDoer{status: map[string]int{"experiments": 500}})
	defer r.Release()
	if params.started["layer"] != 0 || params.started["settings"] != 0 {
		t.Errorf("calls never sent were observed: %v", params.started)
	}
}

// TestAttemptMarks: a context carries the attempt it is marked with, and
// an unmarked one is the call's own attempt.
func TestAttemptMarks(t *testing.T) {
	ctx := t.Context()
	if a := AttemptOf(ctx); a != AttemptFirst || a.String() != "" {
		t.Errorf("unmarked: %v %q", a, a.String())
	}
	for _, a := range []Attempt{AttemptHedge, AttemptRetry} {
		if got := AttemptOf(WithAttempt(ctx, a)); got != a {
			t.Errorf("marked %v, read %v", a, got)
		}
	}
	if AttemptHedge.String() != "hedge" || AttemptRetry.String() != "retry" {
		t.Errorf("names %q %q", AttemptHedge, AttemptRetry)
	}
}
