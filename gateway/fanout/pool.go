package fanout

import (
	"context"
	"sync"
	"time"
)

// pool runs calls on a fixed set of worker goroutines shared by every request
// the Executor serves: the worker-pool era. Ready calls wait in one FIFO queue
// for a free worker, so throughput is capped at size / latency and
// Outcome.Wait grows with load.
//
// The queue is a slice under a mutex rather than a channel so that a request
// never blocks to enqueue: it keeps noticing its own finished calls (their
// dependents join the queue at once, and Wait counts from then) and the end
// of its run (at its deadline, or when a required call failed, its queued
// calls are withdrawn unsent).
type pool struct {
	size   int
	mu     sync.Mutex
	cond   sync.Cond // signalled when a job is queued or the pool closes
	queue  []job     // queue[head:] wait, oldest first
	head   int
	closed bool
	wg     sync.WaitGroup
	runAll bool // Options.RunAll
}

// job is one call waiting for a worker.
type job struct {
	r     *Result
	i     int
	path  string
	ready time.Time
}

func newPool(size int) *pool {
	p := &pool{size: size}
	p.cond.L = &p.mu
	p.wg.Add(size)
	for range size {
		go p.work()
	}
	return p
}

func (*pool) Mode() string { return ModePool }

func (p *pool) Execute(ctx context.Context, plan *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, plan, params, d, abortUnless(p.runAll, abortCancel))
	r.runGraph(p)
	return r.finish()
}

// launch queues the call for the next free worker.
func (p *pool) launch(r *Result, i int, path string) bool {
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		r.Outcomes[i].Err = ErrClosed
		r.Outcomes[i].Start = now.Sub(r.start)
		return false
	}
	p.queue = append(p.queue, job{r: r, i: i, path: path, ready: now})
	p.mu.Unlock()
	p.cond.Signal()
	return true
}

// inline refuses: every pool call needs a worker, however idle the request.
func (*pool) inline(*Result, int, string) bool { return false }

// withdraw removes r's queued calls, keeping the others in order.
func (p *pool) withdraw(r *Result, dst []int) []int {
	now := time.Now()
	p.mu.Lock()
	kept := p.queue[:p.head]
	for _, j := range p.queue[p.head:] {
		if j.r != r {
			kept = append(kept, j)
			continue
		}
		o := &r.Outcomes[j.i]
		o.Err = r.stopped()
		o.Wait = now.Sub(j.ready)
		o.Start = now.Sub(r.start)
		dst = append(dst, j.i)
	}
	clear(p.queue[len(kept):])
	p.queue = kept
	p.mu.Unlock()
	return dst
}

// take waits for the oldest queued job; ok is false when the pool is closed
// and its queue empty.
func (p *pool) take() (j job, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == len(p.queue) {
		if p.closed {
			return job{}, false
		}
		p.cond.Wait()
	}
	j = p.queue[p.head]
	p.queue[p.head] = job{} // drop the references for the garbage collector
	p.head++
	switch {
	case p.head == len(p.queue):
		p.queue, p.head = p.queue[:0], 0
	case p.head >= 64 && p.head > len(p.queue)/2:
		// Under steady load the queue may never empty: slide it down
		// instead of letting it grow.
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	return j, true
}

func (p *pool) work() {
	defer p.wg.Done()
	for {
		j, ok := p.take()
		if !ok {
			return
		}
		j.r.send(j.i, j.path, time.Since(j.ready))
		j.r.done <- j.i
	}
}

// Close refuses new calls (they get ErrClosed), lets the workers finish the
// queued ones, and stops them. A process-wide Executor need never be closed;
// tests close theirs.
func (p *pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
	return nil
}

// Size returns the number of workers.
func (p *pool) Size() int { return p.size }
