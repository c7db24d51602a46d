package fanout

import (
	"context"
	"time"
)

// graph is the Executor of the concurrent, pool and blocking modes: one
// runner that starts each call the moment its last dependency finishes, so
// that the latency is the plan's critical path, and lets each call through
// the mode's gate before its Doer. The modes differ only in the gate:
//
//	concurrent  none
//	pool        slots: N calls at once, first come first served (see slots)
//	blocking    lock: one call at a time, waiting blind to ctx (see lock)
//
// The goroutine that finishes a call starts the calls it made ready itself:
// it launches all but one on other goroutines (idle workers kept for reuse,
// or new ones: see launch) and goes on with the last one,
// and Execute's own goroutine runs one of the plan's roots. A chain of calls
// thus runs in one goroutine, and Execute's goroutine is woken once, when the
// last call finishes, rather than once per call: at a few backend calls per
// request, goroutine starts and wake-ups are a good part of the gateway's CPU.
type graph struct {
	mode   string
	gate   gate // nil lets every call straight in
	runAll bool // Options.RunAll
}

func (g *graph) Mode() string { return g.mode }

func (g *graph) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newRun(ctx, p, params, d, g.gate, abortUnless(g.runAll, abortCancel))
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
	r.runReady(roots, false, queued{}, false)
	r.wait()
	return r.finish()
}

// wait returns once every call of the run is finished. In the pool mode it
// also withdraws the run's queued calls when ctx or the caller's context
// ends: a queued call has no goroutine of its own to notice.
func (r *run) wait() {
	if r.slots == nil {
		<-r.done
		return
	}
	var ctxDone, parentDone <-chan struct{}
	for {
		select {
		case i := <-r.done:
			if i >= 0 {
				return
			}
			// A call of the run is queued. ctx may have ended already:
			// the withdrawal below looks.
			ctxDone, parentDone = r.ctx.Done(), r.parent.Done()
		case <-ctxDone:
			ctxDone = nil
		case <-parentDone:
			parentDone = nil
		}
		r.withdraw()
	}
}

// withdraw takes the run's queued calls that may no longer start out of the
// slots' queue and finishes them unsent, with why and how long they waited.
// Once out of the queue under the slots' lock, no handoff can run them.
func (r *run) withdraw() {
	var buf [8]queued
	for _, q := range r.slots.withdraw(r, buf[:0]) {
		r.turnedAway(q.i, r.stopped(q.i), time.Since(q.t0))
		var work [8]int
		r.runReady(r.finishCall(q.i, work[:0]), false, queued{}, false)
	}
}

// pool is the Executor of the pool mode: the graph runner behind slots that
// every request the Executor serves shares, so throughput is capped at
// size / latency and Outcome.Wait grows with load. Close shuts the slots.
type pool struct {
	graph
	slots *slots
}

// Close refuses the calls that come to the slots afterwards: they get
// ErrClosed. Calls already waiting or in the Doer go on. A process-wide
// Executor need never be closed; tests close theirs.
func (p *pool) Close() error {
	p.slots.close()
	return nil
}

// runReady starts the calls in ready, which this goroutine owns: it
// launches all but the last one that can be sent on other goroutines (see
// launch), sends the last one itself, and goes on with the calls that it
// made ready, until none is left to this goroutine. A call that cannot be
// sent (prepare says why) is finished at once, which may make its
// dependents ready.
//
// In the pool mode a call that finds no free slot is queued, and left to the
// goroutine that will hand it a slot. When this goroutine leaves a slot that
// a queued call takes over (hasSuccessor, with successor), it starts its own
// run's ready calls without running any itself and returns successor for its
// caller to run, if mayRunOthers; if not (Execute's goroutine, which must not
// run another request's call) it starts successor in a goroutine. runReady is
// called with hasSuccessor when its caller already holds successor.
func (r *run) runReady(ready []int, mayRunOthers bool, successor queued, hasSuccessor bool) (queued, bool) {
	var buf [128]byte
	for len(ready) > 0 {
		// r is read only while ready holds unfinished calls: once its last
		// call is finished, the run belongs to its Execute again.
		s := r.slots
		inline, inlinePath := -1, ""
		// ready grows while it is read: a call not sent readies dependents.
		for h := 0; h < len(ready); h++ {
			i := ready[h]
			path, ok := r.prepare(i, buf[:0])
			if ok && s != nil {
				granted, err := s.take(r, i, path)
				if err != nil {
					r.turnedAway(i, err, 0)
				} else if !granted {
					continue // queued: a handoff or the withdrawal finishes it
				}
				ok = granted
			}
			if !ok {
				ready = r.finishCall(i, ready)
				continue
			}
			if inline >= 0 {
				launch(r, inline, inlinePath)
			}
			inline, inlinePath = i, path
		}
		if inline < 0 {
			break
		}
		if hasSuccessor {
			launch(r, inline, inlinePath)
			break
		}
		if s == nil {
			r.pass(inline, inlinePath)
		} else {
			r.send(inline, inlinePath, 0)
			if successor, hasSuccessor = s.handoff(); hasSuccessor && !mayRunOthers {
				go serve(successor)
				hasSuccessor = false
			}
		}
		ready = r.finishCall(inline, ready[:0])
	}
	return successor, hasSuccessor
}

// passAndRunReady sends call i, prepared with its path, through the gate, then
// starts the calls that it makes ready. In the pool mode call i holds a slot
// already.
func (r *run) passAndRunReady(i int, path string) {
	var work [8]int
	s := r.slots
	if s == nil {
		r.pass(i, path)
		r.runReady(r.finishCall(i, work[:0]), false, queued{}, false)
		return
	}
	// The call is sent from this frame rather than from serve's: the Doer
	// then runs as deep in the stack as in the other modes, which keeps
	// most goroutines within their first stack.
	r.send(i, path, 0)
	successor, hasSuccessor := s.handoff()
	if successor, hasSuccessor = r.runReady(r.finishCall(i, work[:0]), true, successor, hasSuccessor); hasSuccessor {
		serve(successor)
	}
}

// serve runs the pool call q, which holds a slot, then, with the same slot,
// each queued call it is handed, whatever its run, until the queue is empty:
// the goroutines of the pool mode are bounded by its slots. A call queued
// since q.t0 counts the time as its Outcome.Wait; send does not send it if
// its run stopped meanwhile.
func serve(q queued) {
	for ok := true; ok; {
		r := q.r
		s := r.slots
		var wait time.Duration
		if !q.t0.IsZero() {
			wait = time.Since(q.t0)
		}
		r.send(q.i, q.path, wait)
		successor, hasSuccessor := s.handoff()
		var work [8]int
		q, ok = r.runReady(r.finishCall(q.i, work[:0]), true, successor, hasSuccessor)
	}
}

// pass sends call i through the run's gate: it waits for its turn, counted
// in Outcome.Wait, and holds it while in the Doer. A call the gate turns away
// (ctx done, run aborted, pool closed) is recorded unsent.
func (r *run) pass(i int, path string) {
	if r.gate == nil {
		r.send(i, path, 0)
		return
	}
	t0 := time.Now()
	err := r.gate.enter(r.ctxOf(i))
	wait := time.Since(t0)
	if err != nil {
		r.turnedAway(i, err, wait)
		return
	}
	r.send(i, path, wait) // recovers the Doer's panic, so leave always runs
	r.gate.leave()
}

// turnedAway records call i as not sent because the gate refused it with err
// after wait. A refusal at the end of ctx says why ctx ended: the caller's
// deadline, or the abort. Neither that nor a closed pool aborts the run.
func (r *run) turnedAway(i int, err error, wait time.Duration) {
	if stop := r.stopped(i); stop != nil {
		err = stop
	}
	o := &r.res.Outcomes[i]
	o.Err, o.Wait, o.Start = err, wait, r.since()
}

// finishCall marks call i finished, appends to dst the dependents whose
// dependencies are now all finished, and returns dst. The last call to
// finish reports on r.done; its goroutine must not touch r after that.
func (r *run) finishCall(i int, dst []int) []int {
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

// callStack is the stack, in bytes, that a goroutine of the engine grows
// to at once before it sends a call (see growStack).
const callStack = 12 << 10

// growStack grows the stack of a new goroutine that is about to send a
// call to what the call needs, in one step while the stack is nearly
// empty. A goroutine starts with a small stack and a call through the
// policies, the backend client and fasthttp is deep: left to itself the
// stack would double three times, each time copying every frame of a deep
// stack, which costs more than the call's own work in the engine.
//
//go:noinline
func growStack() {
	var frame [callStack]byte
	touch(frame[:])
}

// touch keeps growStack's frame, which would otherwise be optimised away.
//
//go:noinline
func touch(b []byte) { b[0] = 1 }
