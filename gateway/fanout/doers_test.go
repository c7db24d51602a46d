package fanout

import (
	"context"
	"errors"
	"sync"
	"time"
)

// resultsCalls is the aggregate the gateway serves: an experiment, its layer
// and its project's settings (both need fields of the experiment), and its
// results (needs only the request parameter).
var resultsCalls = []CallSpec{
	{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"},
	{Name: "layer", Backend: "layers", Path: "/layers/{experiment.layer_id}"},
	{Name: "settings", Backend: "projects", Path: "/projects/{experiment.project_id}/settings", Optional: true},
	{Name: "results", Backend: "results", Path: "/results/{experiment_id}"},
}

var resultsParams = []string{"experiment_id"}

// bodies are what the fake backends answer, by backend.
var bodies = map[string][]byte{
	"experiments": []byte(`{"id":"42","project_id":"3","layer_id":"7","name":"checkout button","status":"running"}`),
	"layers":      []byte(`{"id":"7","name":"web"}`),
	"projects":    []byte(`{"id":"3","settings":{"confidence":0.95}}`),
	"results":     []byte(`{"experiment_id":"42","variants":[]}`),
}

// delayedDoer answers every backend after its delay (or ends early with the
// context's error), with the backend's body and status 200.
type delayedDoer struct {
	delay map[string]time.Duration
}

func (d delayedDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	if dl := d.delay[backend]; dl > 0 {
		t := time.NewTimer(dl)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
	return 200, bodies[backend], nil
}

// delays of the story: experiment 20ms, then layer 15ms and settings 10ms;
// results 40ms independent. Critical path 40ms, levels 40+15ms, sum 85ms.
func storyDelays() map[string]time.Duration {
	return map[string]time.Duration{
		"experiments": 20 * time.Millisecond,
		"layers":      15 * time.Millisecond,
		"projects":    10 * time.Millisecond,
		"results":     40 * time.Millisecond,
	}
}

var errExploded = errors.New("connection reset by peer")

// explosiveDoer fails every call to the backends in fail with a transport
// error, answers status[backend] for the others (200 by default), with body
// override[backend] when set.
type explosiveDoer struct {
	fail     map[string]bool
	status   map[string]int
	override map[string][]byte
}

func (d explosiveDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	if d.fail[backend] {
		return 0, nil, errExploded
	}
	status := 200
	if s, ok := d.status[backend]; ok {
		status = s
	}
	if b, ok := d.override[backend]; ok {
		return status, b, nil
	}
	return status, bodies[backend], nil
}

// recordingDoer wraps a Doer and records every call made, in order, with its
// wall-clock interval.
type recordingDoer struct {
	next  Doer
	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	backend, method, path string
	begin, end            time.Time
	deadline              time.Time // zero if the context had none
}

func (d *recordingDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	rc := recordedCall{backend: backend, method: method, path: path, begin: time.Now()}
	rc.deadline, _ = ctx.Deadline()
	status, body, err := d.next.Do(ctx, backend, method, path)
	rc.end = time.Now()
	d.mu.Lock()
	d.calls = append(d.calls, rc)
	d.mu.Unlock()
	return status, body, err
}

func (d *recordingDoer) recorded() []recordedCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]recordedCall(nil), d.calls...)
}

// instantDoer answers at once; the benchmarks' backend.
type instantDoer struct{}

func (instantDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	return 200, bodies[backend], nil
}

// panickyDoer panics for the backends in panics, and answers the others at once.
type panickyDoer struct{ panics map[string]bool }

func (d panickyDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	if d.panics[backend] {
		panic("backend client bug")
	}
	return 200, bodies[backend], nil
}
