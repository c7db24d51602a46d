package fanout

import (
	"runtime"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
)

// liveGoroutines counts the goroutines but those the engine keeps idle for
// reuse (see idleWorkers).
func liveGoroutines() int { return runtime.NumGoroutine() - idleWorkers() }

// TestWorkersAreReused: requests one after another run their launched
// calls on the goroutines of the ones before, not on a new goroutine each;
// and the workers idle through a whole sweep period end.
func TestWorkersAreReused(t *testing.T) {
	p := compileResults(t)
	d := delayedDoer{delay: map[string]time.Duration{"experiments": time.Millisecond, "results": 2 * time.Millisecond}}
	const requests = 20
	for _, mode := range []string{ModeConcurrent, ModePool} {
		e := newExecutor(t, mode, Options{PoolSize: 4})
		started := workers.started.Load()
		for range requests {
			r := e.Execute(t.Context(), p, ParamMap{"experiment_id": "1"}, d)
			if !r.Outcomes[0].OK() {
				t.Fatalf("%s: experiments failed: %v", mode, r.Outcomes[0].Err)
			}
			r.Release()
		}
		// Each request launches a call at least (one of its two roots);
		// a worker may still be on its way back when the next one comes.
		if n := workers.started.Load() - started; n > requests/4 {
			t.Errorf("%s: %d requests started %d workers, want the first few reused", mode, requests, n)
		}
	}

	poll.Until(t, 10*time.Second, "a worker to go idle", func() bool { return idleWorkers() > 1 })
	before := runtime.NumGoroutine()
	workers.mu.Lock()
	idle := len(workers.idle)
	workers.mu.Unlock()
	// The first sweep period starts with them idle; the second ends them.
	if left := sweepOnce(); left != idle {
		t.Errorf("%d workers idle, %d left by the first sweep: want none ended yet", idle, left)
	}
	if left := sweepOnce(); left != 0 {
		t.Errorf("%d workers left idle through a whole sweep period, want none", left)
	}
	poll.Until(t, 10*time.Second, "the swept workers to end", func() bool { return runtime.NumGoroutine() <= before-idle })
}
