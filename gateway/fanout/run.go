package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/internal/lazyctx"
)

// Result holds the Outcomes of one Execute. Release returns it to a pool so a
// steady stream of requests allocates little; using it after Release is a bug.
type Result struct {
	Outcomes []Outcome     // index = Call.Index
	Total    time.Duration // wall time of Execute

	// run is the run that filled the Result and holds it, so that Release
	// returns both to the pool; nil for a Result built by hand, or released.
	run *run
}

// Release returns r to a pool for a later Execute. Bodies and errors are
// dropped, so the Doer may reuse its buffers once Release returns. Calling it
// is optional; calling it twice is harmless; using r afterwards is a bug.
func (r *Result) Release() {
	if r == nil || r.run == nil {
		return
	}
	ru := r.run
	r.run = nil
	clear(r.Outcomes)
	clear(ru.vals)
	runs.Put(ru)
}

// run is the state of one Execute, shared by the calls of the run. Its
// Result is the part the caller reads. A call's Outcome and values are
// written only by the goroutine that holds the call, and read by another only
// after that goroutine handed the call over: on done, or under mu when it
// finished the call (see finishCall).
type run struct {
	res     Result
	plan    *Plan
	ctx     context.Context // the calls' context: parent, or derived to be cancelled on abort
	parent  context.Context // the caller's context
	params  Params
	checker Checker // params as a Checker; nil if it is none
	// observer is params as an Observer; nil if it is none.
	observer Observer
	doer     Doer
	gate     gate   // what each call passes through before the Doer; nil lets it straight in
	slots    *slots // the pool's slots, which the runner queues calls on instead of gate
	start    time.Time
	vals     []value
	pending  []int32 // per call, the dependencies not finished yet
	// done is buffered to the number of calls and one: every sender finds
	// room. The last call to finish sends its index; in the pool mode,
	// the first call of the run queued for a slot sends -1 (see
	// slots.take), so that Execute watches ctx from then on only: Done
	// costs a cancelable context an allocation. queued is whether it has,
	// guarded by the slots' mutex.
	done   chan int
	queued bool

	// mu guards pending and left, the number of calls not finished yet, in
	// the graph runner, where whichever goroutine finishes a call starts its
	// dependents.
	mu   sync.Mutex
	left int

	// What a failed required call does to the run (see checkAbort):
	// aborter is 1 + the index of the call that aborted it, 0 while none
	// has; when the mode has calls in flight to stop, ctx is abortCtx, which
	// the abort cancels. A call with a timeout runs under its own context
	// in callCtxs, a child of ctx (or, for the primary, of parent), so the
	// abort reaches it with no list of cancel functions. They are lazy
	// contexts (see lazyctx): a request costs neither a timer per call nor
	// a map of children in the caller's context, unless a policy waits on
	// one's Done.
	abort    abort
	aborter  atomic.Int32
	abortCtx lazyctx.Context
	callCtxs []lazyctx.Context
}

// abort is how a run reacts to a required call that did not deliver.
type abort uint8

const (
	// abortNever runs every call (Options.RunAll, or a plan of one call).
	abortNever abort = iota
	// abortStop sends no call afterwards: the sequential mode, where no
	// other call is ever in flight.
	abortStop
	// abortCancel also cancels the context of the calls in flight.
	abortCancel
)

// abortUnless returns a, or abortNever if the caller asked for every call.
func abortUnless(runAll bool, a abort) abort {
	if runAll {
		return abortNever
	}
	return a
}

var runs = sync.Pool{New: func() any { return new(run) }}

// newRun takes a run from the pool and sizes it for p. Its calls pass
// through g (nil: no gate) before the Doer.
func newRun(ctx context.Context, p *Plan, params Params, d Doer, g gate, a abort) *run {
	r := runs.Get().(*run)
	n := len(p.calls)
	r.res.run = r
	r.plan, r.ctx, r.parent, r.params, r.doer, r.gate, r.slots = p, ctx, ctx, params, d, g, nil
	r.checker, _ = params.(Checker)
	r.observer, _ = params.(Observer)
	if s, ok := g.(*slots); ok {
		// The runner queues a call that finds no free slot rather than
		// block a goroutine in enter (see slots).
		r.gate, r.slots = nil, s
	}
	if n < 2 {
		a = abortNever // a lone call has no sibling to spare
	}
	r.abort = a
	r.aborter.Store(0)
	if a == abortCancel {
		r.abortCtx.Reset(ctx, time.Time{})
		r.ctx = &r.abortCtx
	}
	r.callCtxs = resize(r.callCtxs, n)
	r.res.Outcomes = resize(r.res.Outcomes, n)
	r.vals = resize(r.vals, p.slots)
	for i := range r.vals {
		r.vals[i] = value{why: notScanned}
	}
	r.pending = resize(r.pending, n)
	if cap(r.done) < n+1 {
		r.done = make(chan int, n+1)
	}
	r.queued = false
	r.start = time.Now()
	return r
}

// finish stamps the total, drops what the run must not keep, and returns
// the Result.
func (r *run) finish() *Result {
	r.res.Total = time.Since(r.start)
	if r.abort == abortCancel {
		r.abortCtx.Cancel() // free what an armed context holds in its parent
	}
	r.ctx, r.parent, r.params, r.doer, r.gate, r.slots = nil, nil, nil, nil, nil, nil
	r.checker, r.observer = nil, nil
	return &r.res
}

// resize returns s with length n, zeroed, reusing its array when it can.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// since returns the offset from the start of Execute.
func (r *run) since() time.Duration { return time.Since(r.start) }

// prepare decides whether call i can be sent: every dependency answered 2xx
// and yielded the referenced fields, the run is neither aborted nor past
// ctx, every parameter is present. If so it returns the expanded path; if
// not it records why in the call's Outcome (which may abort the run). buf
// is scratch space for the path.
func (r *run) prepare(i int, buf []byte) (path string, ok bool) {
	p := r.plan
	c := &p.calls[i]
	for _, d := range c.Deps {
		if dep := &r.res.Outcomes[d]; !dep.OK() {
			return r.skip(i, &DependencyError{Call: p.calls[d].Spec.Name, Status: dep.Status, Err: dep.Err})
		}
	}
	t := &p.steps[i].tmpl
	for s := range t.segs {
		sg := &t.segs[s]
		if sg.kind == segField && r.vals[sg.slot].why != present {
			owner := p.calls[sg.call].Spec.Name
			return r.skip(i, &DependencyError{
				Call:   owner,
				Field:  sg.field,
				Status: r.res.Outcomes[sg.call].Status,
				Err:    fieldError(owner, sg.field, r.vals[sg.slot].why),
			})
		}
	}
	if err := r.stopped(i); err != nil {
		return r.skip(i, err)
	}
	path, err := t.expand(buf, r.params, r.vals)
	if err != nil {
		return r.skip(i, err)
	}
	return path, true
}

// skip records in call i's Outcome why it is not sent, which may abort the
// run, and returns prepare's answer.
func (r *run) skip(i int, err error) (string, bool) {
	o := &r.res.Outcomes[i]
	o.Err = err
	o.Start = r.since()
	r.checkAbort(i)
	return "", false
}

// send calls the Doer for call i and records the Outcome, after wait spent
// queueing. If ctx ended or the run was aborted while the call waited, it is
// not sent. A 2xx body is read at once (readAnswer) for the fields that
// dependents need and checked, in this goroutine, so that reading runs in
// parallel with the other calls. A required call that does not deliver, or
// whose answer is refused, aborts the run.
func (r *run) send(i int, path string, wait time.Duration) {
	o := &r.res.Outcomes[i]
	o.Wait = wait
	if err := r.stopped(i); err != nil {
		o.Err = err
		o.Start = r.since()
		return
	}
	// Deferred first so that it runs last, after a panic became the error.
	defer r.checkAbort(i)
	spec := &r.plan.calls[i].Spec
	// observed is the context the Observer returned, once it has: the
	// call's end is observed whether it returns or panics.
	var observed context.Context
	// A panicking Doer must not take the process down from a goroutine no
	// handler can recover: the panic becomes the call's error.
	defer func() {
		if v := recover(); v != nil {
			o.Status, o.Body, o.Sent = 0, nil, true
			o.Err = fmt.Errorf("%w: call %q: %v", ErrPanic, spec.Name, v)
			if observed != nil {
				r.observer.EndCall(observed, &r.plan.calls[i], o)
			}
		}
	}()
	// The abort cancels r.ctx; the primary's answer may still decide the
	// status, so it runs under the caller's context.
	ctx := r.ctxOf(i)
	// One clock read for the call's start and its deadline.
	t0 := time.Now()
	if spec.Timeout > 0 {
		// The call's context keeps the parent's deadline when it is
		// earlier, so the Doer sees the smaller of the call's timeout and
		// what is left; a child of ctx, it ends with the abort too.
		cc := &r.callCtxs[i]
		cc.Reset(ctx, t0.Add(spec.Timeout))
		defer cc.Cancel()
		ctx = cc
	}
	if r.observer != nil {
		ctx = r.observer.StartCall(ctx, &r.plan.calls[i])
		observed = ctx
	}
	o.Start = t0.Sub(r.start)
	r.ask(ctx, i, path, t0)
	if r.strayAnswer(ctx, i) {
		r.askAgain(ctx, i, path, t0)
	}
	if o.OK() {
		r.accept(i, path)
	}
	if observed != nil {
		// Before checkAbort, deferred: the Outcome is final, and no
		// dependent has started.
		r.observer.EndCall(observed, &r.plan.calls[i], o)
	}
}

// ask performs call i through its policy, if any, records the answer in
// its Outcome (Duration counts from t0, the call's first attempt) and
// reads a 2xx body (readAnswer).
func (r *run) ask(ctx context.Context, i int, path string, t0 time.Time) {
	o := &r.res.Outcomes[i]
	spec := &r.plan.calls[i].Spec
	status, body, via, err := doCall(r.doer, ctx, &r.plan.calls[i], path)
	o.Via = via
	o.Duration = time.Since(t0)
	if err != nil && r.aborter.Load() > 0 && errors.Is(err, context.Canceled) {
		err = r.aborted(err)
	}
	o.Status, o.Body, o.Err, o.Sent = status, body, err, true
	// A 204 has no body to read: its dependents find no field.
	if r.plan.steps[i].read && o.OK() && status != 204 {
		r.readAnswer(ctx, i, t0.Add(o.Duration))
	}
	// The caller's check comes last, on an answer the engine would use,
	// and before the call is finished: no dependent has started yet.
	if r.checker != nil && o.OK() {
		if cerr := r.checker.Check(&r.plan.calls[i], status, body); cerr != nil {
			o.Body, o.Err = nil, fmt.Errorf("%w: call %q: %w", ErrRefused, spec.Name, cerr)
		}
	}
}

// stopped returns why call i may not start now: an *AbortError once a
// required call failed, else ctx's error; nil while it may start. The
// primary is spared the abort, as in send: its own answer decides the
// status (an unknown experiment is a 404 even when a sibling failed first),
// so only the caller's context stops it.
func (r *run) stopped(i int) error {
	if r.plan.calls[i].Spec.Primary {
		return r.parent.Err()
	}
	if r.aborter.Load() > 0 {
		return r.aborted(context.Canceled)
	}
	return r.ctx.Err()
}

// ctxOf is the context call i waits and runs under: the caller's for the
// primary, which the abort spares, else the run's.
func (r *run) ctxOf(i int) context.Context {
	if r.plan.calls[i].Spec.Primary {
		return r.parent
	}
	return r.ctx
}

// aborted returns the *AbortError of a call that the abort cut short, with
// the cause err.
func (r *run) aborted(err error) error {
	return &AbortError{Call: r.plan.calls[r.aborter.Load()-1].Spec.Name, Err: err}
}

// checkAbort aborts the run if call i, whose Outcome is final, is required
// and did not deliver, or if its answer was refused (Checker), required or
// not: the request has failed then, and nobody will read the other calls'
// answers. Only the first such call aborts; a call that was
// itself cut short by the abort, or by the end of the caller's ctx, never
// does (the caller's ctx has stopped everything already).
func (r *run) checkAbort(i int) {
	if r.abort == abortNever {
		return
	}
	o := &r.res.Outcomes[i]
	spec := &r.plan.calls[i].Spec
	refused := r.checker != nil && errors.Is(o.Err, ErrRefused)
	if !refused && (o.OK() || spec.Optional || errors.Is(o.Err, ErrAborted) || r.parent.Err() != nil ||
		(spec.AllowNotFound && o.Err == nil && o.Status == 404)) {
		return
	}
	if !r.aborter.CompareAndSwap(0, int32(i)+1) || r.abort != abortCancel {
		return
	}
	r.abortCtx.Cancel()
	// The contexts are done, but a Doer may not watch them on the wire:
	// tell it now (see Doer).
	if in, ok := r.doer.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}
