package fanout

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Result holds the Outcomes of one Execute. Release returns it to a pool so a
// steady stream of requests allocates little; using it after Release is a bug.
type Result struct {
	Outcomes []Outcome     // index = Call.Index
	Total    time.Duration // wall time of Execute

	// What the calls of one Execute share. Executors write an Outcome and the
	// values of a call only from the goroutine that runs it, and read them in
	// another goroutine only after receiving its index on done (or, in the
	// concurrent mode, after finishCall, under mu).
	plan    *Plan
	ctx     context.Context
	params  Params
	doer    Doer
	start   time.Time
	vals    []value
	pending []int32
	queue   []int    // calls ready to start, for runGraph
	done    chan int // buffered to the number of calls: every sender finds room

	// For the concurrent mode, where whichever goroutine finishes a call
	// starts its dependents: mu guards pending and left, the number of
	// calls not finished yet.
	mu   sync.Mutex
	left int
}

var results = sync.Pool{New: func() any { return new(Result) }}

// newResult takes a Result from the pool and sizes it for p.
func newResult(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := results.Get().(*Result)
	n := len(p.calls)
	r.plan, r.ctx, r.params, r.doer = p, ctx, params, d
	r.Outcomes = resize(r.Outcomes, n)
	r.vals = resize(r.vals, p.slots)
	for i := range r.vals {
		r.vals[i] = value{why: notScanned}
	}
	r.pending = resize(r.pending, n)
	if cap(r.queue) < n {
		r.queue = make([]int, 0, n)
	}
	if cap(r.done) < n {
		r.done = make(chan int, n)
	}
	r.start = time.Now()
	return r
}

// finish stamps the total and drops what the Result must not keep.
func (r *Result) finish() *Result {
	r.Total = time.Since(r.start)
	r.ctx, r.params, r.doer = nil, nil, nil
	return r
}

// Release returns r to a pool for a later Execute. Bodies and errors are
// dropped, so the Doer may reuse its buffers once Release returns. Calling it
// is optional; calling it twice is harmless; using r afterwards is a bug.
func (r *Result) Release() {
	if r == nil || r.plan == nil {
		return
	}
	clear(r.Outcomes)
	clear(r.vals)
	r.plan = nil
	results.Put(r)
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
func (r *Result) since() time.Duration { return time.Since(r.start) }

// prepare decides whether call i can be sent: every dependency answered 2xx
// and yielded the referenced fields, ctx is not done, every parameter is
// present. If so it returns the expanded path; if not it records why in the
// call's Outcome. buf is scratch space for the path.
func (r *Result) prepare(i int, buf []byte) (path string, ok bool) {
	p := r.plan
	c := &p.calls[i]
	o := &r.Outcomes[i]
	for _, d := range c.Deps {
		if dep := &r.Outcomes[d]; !dep.OK() {
			o.Err = &DependencyError{Call: p.calls[d].Spec.Name, Status: dep.Status, Err: dep.Err}
			o.Start = r.since()
			return "", false
		}
	}
	t := &p.steps[i].tmpl
	for s := range t.segs {
		sg := &t.segs[s]
		if sg.kind == segField && r.vals[sg.slot].why != present {
			owner := p.calls[sg.call].Spec.Name
			o.Err = &DependencyError{
				Call:   owner,
				Field:  sg.field,
				Status: r.Outcomes[sg.call].Status,
				Err:    fieldError(owner, sg.field, r.vals[sg.slot].why),
			}
			o.Start = r.since()
			return "", false
		}
	}
	if err := r.ctx.Err(); err != nil {
		o.Err = err
		o.Start = r.since()
		return "", false
	}
	path, err := t.expand(buf, r.params, r.vals)
	if err != nil {
		o.Err = err
		o.Start = r.since()
		return "", false
	}
	return path, true
}

// send calls the Doer for call i and records the Outcome, after wait spent
// queueing. If ctx ended while the call waited, it is not sent. A 2xx body is
// scanned at once for the fields that dependents need, in this goroutine, so
// extraction runs in parallel with the other calls.
func (r *Result) send(i int, path string, wait time.Duration) {
	o := &r.Outcomes[i]
	o.Wait = wait
	if err := r.ctx.Err(); err != nil {
		o.Err = err
		o.Start = r.since()
		return
	}
	spec := &r.plan.calls[i].Spec
	// A panicking Doer must not take the process down from a goroutine no
	// handler can recover: the panic becomes the call's error.
	defer func() {
		if v := recover(); v != nil {
			o.Status, o.Body, o.Sent = 0, nil, true
			o.Err = fmt.Errorf("%w: call %q: %v", ErrPanic, spec.Name, v)
		}
	}()
	ctx := r.ctx
	if spec.Timeout > 0 {
		// WithTimeout keeps the parent's deadline when it is earlier, so the
		// Doer sees the smaller of the call's timeout and what is left.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	t0 := time.Now()
	status, body, err := r.doer.Do(ctx, spec.Backend, spec.Method, path)
	o.Duration = time.Since(t0)
	o.Start = t0.Sub(r.start)
	o.Status, o.Body, o.Err, o.Sent = status, body, err, true
	if st := &r.plan.steps[i]; len(st.fields) > 0 && o.OK() {
		extract(body, st.fields, r.vals[st.slot0:st.slot0+len(st.fields)])
	}
}

// A scheduler is how a mode driven by the dependency graph starts calls.
type scheduler interface {
	// launch starts call i (prepared, with its path) so that it reports its
	// index on r.done when finished, and returns true; or records why it
	// could not start and returns false.
	launch(r *Result, i int, path string) bool
	// inline sends call i in the calling goroutine and returns true, or
	// returns false if the mode must not (a pool call needs a worker). It is
	// used only when nothing else is in flight or ready, when a goroutine
	// would gain nothing.
	inline(r *Result, i int, path string) bool
	// withdraw takes back, once r's ctx is done, r's calls that were launched
	// but have not started, records ctx.Err() for each, and appends their
	// indices to dst. A scheduler that never queues returns dst.
	withdraw(r *Result, dst []int) []int
}

// runGraph runs the calls of r's plan in dependency order: each call is
// launched the moment its last dependency finishes. It is the shared engine of
// the concurrent, pool and blocking modes, which differ only in their
// scheduler. Every launched call is received on r.done, or withdrawn, before
// runGraph returns; no call is launched once ctx is done (prepare checks).
func (r *Result) runGraph(s scheduler) {
	p := r.plan
	r.queue = r.queue[:0]
	for i := range p.calls {
		r.pending[i] = int32(len(p.calls[i].Deps))
		if r.pending[i] == 0 {
			r.queue = append(r.queue, i)
		}
	}
	var buf [128]byte
	inflight := 0
	ctxDone := r.ctx.Done()
	for {
		// Start every ready call. Each call is queued once, so the queue is
		// a slice consumed from the front, emptied as it goes.
		for head := 0; head < len(r.queue); head++ {
			i := r.queue[head]
			path, ok := r.prepare(i, buf[:0])
			switch {
			case !ok:
			case inflight == 0 && head == len(r.queue)-1 && s.inline(r, i, path):
				// A lone call (a chain's next link, a plain proxy) runs in
				// this goroutine: no goroutine, no channel.
			case s.launch(r, i, path):
				inflight++
				continue
			}
			r.release(i)
		}
		r.queue = r.queue[:0]
		if inflight == 0 {
			return
		}
		select {
		case i := <-r.done:
			inflight--
			r.release(i)
		case <-ctxDone:
			ctxDone = nil // withdraw once: nothing is launched after ctx is done
			for _, i := range s.withdraw(r, nil) {
				inflight--
				r.release(i)
			}
		}
	}
}

// release marks call i finished for its dependents and queues those whose
// dependencies are now all finished.
func (r *Result) release(i int) {
	for _, j := range r.plan.steps[i].dependents {
		r.pending[j]--
		if r.pending[j] == 0 {
			r.queue = append(r.queue, j)
		}
	}
}
