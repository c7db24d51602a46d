package fanout

import "context"

// concurrent starts each call the moment its last dependency finishes: the
// latency is the plan's critical path.
//
// The goroutine that finishes a call starts the calls it made ready itself:
// it launches all but one in new goroutines and goes on with the last one,
// and Execute's own goroutine runs one of the plan's roots. A chain of calls
// thus runs in one goroutine, and Execute's goroutine is woken once, when the
// last call finishes, rather than once per call: at a few backend calls per
// request, goroutine starts and wake-ups are a good part of the gateway's CPU.
type concurrent struct{ runAll bool }

func (concurrent) Mode() string { return ModeConcurrent }

func (c concurrent) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, p, params, d, abortUnless(c.runAll, abortCancel))
	if len(p.calls) == 0 {
		return r.finish()
	}
	r.left = len(p.calls)
	var ready [8]int
	roots := ready[:0]
	for i := range p.calls {
		r.pending[i] = int32(len(p.calls[i].Deps))
		if r.pending[i] == 0 {
			roots = append(roots, i)
		}
	}
	// Every call is finished exactly once, sent or not, by the goroutine
	// that holds it; the last one to finish reports on r.done, once.
	r.flow(roots)
	<-r.done
	return r.finish()
}

// flow starts the ready calls in work, which this goroutine owns: it
// launches all but the last one that can be sent in new goroutines, sends the
// last one itself, and goes on with the calls that it made ready, until none
// is left to this goroutine. A call that cannot be sent (prepare says why) is
// finished at once, which may make its dependents ready.
func (r *Result) flow(work []int) {
	var buf [128]byte
	for len(work) > 0 {
		inline, inlinePath := -1, ""
		// work grows while it is read: a call not sent readies dependents.
		for h := 0; h < len(work); h++ {
			i := work[h]
			path, ok := r.prepare(i, buf[:0])
			if !ok {
				work = r.finishCall(i, work)
				continue
			}
			if inline >= 0 {
				go r.sendAndFlow(inline, inlinePath)
			}
			inline, inlinePath = i, path
		}
		if inline < 0 {
			return
		}
		r.send(inline, inlinePath, 0)
		work = r.finishCall(inline, work[:0])
	}
}

// sendAndFlow sends call i, prepared with its path, then starts the calls
// that it makes ready.
func (r *Result) sendAndFlow(i int, path string) {
	var work [8]int
	r.send(i, path, 0)
	r.flow(r.finishCall(i, work[:0]))
}

// finishCall marks call i finished, appends to dst the dependents whose
// dependencies are now all finished, and returns dst. The last call to
// finish reports on r.done; its goroutine must not touch r after that.
func (r *Result) finishCall(i int, dst []int) []int {
	r.mu.Lock()
	for _, j := range r.plan.steps[i].dependents {
		r.pending[j]--
		if r.pending[j] == 0 {
			dst = append(dst, j)
		}
	}
	r.left--
	last := r.left == 0
	done := r.done
	r.mu.Unlock()
	if last {
		done <- i
	}
	return dst
}
