package fanout

import (
	"context"
	"sync"
	"time"
)

// pool runs calls on a fixed set of worker goroutines shared by every request
// the Executor serves: the worker-pool era. Calls queue for a free worker, so
// throughput is capped at size / latency and Outcome.Wait grows with load.
type pool struct {
	size int
	jobs chan job // unbuffered: a call waits until a worker takes it, in order
	quit chan struct{}
	stop sync.Once
	wg   sync.WaitGroup
}

// job is one call handed to a worker.
type job struct {
	r     *Result
	i     int
	path  string
	ready time.Time
}

func newPool(size int) *pool {
	p := &pool{size: size, jobs: make(chan job), quit: make(chan struct{})}
	p.wg.Add(size)
	for range size {
		go p.work()
	}
	return p
}

func (*pool) Mode() string { return ModePool }

func (p *pool) Execute(ctx context.Context, plan *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, plan, params, d)
	r.runGraph(p.launch)
	return r.finish()
}

// launch waits for a free worker, or for ctx to end (the call is then not
// started and gets ctx.Err()), or for the pool to close.
func (p *pool) launch(r *Result, i int, path string) bool {
	ready := time.Now()
	select {
	case p.jobs <- job{r: r, i: i, path: path, ready: ready}:
		return true
	case <-r.ctx.Done():
		r.Outcomes[i].Err = r.ctx.Err()
	case <-p.quit:
		r.Outcomes[i].Err = ErrClosed
	}
	r.Outcomes[i].Wait = time.Since(ready)
	r.Outcomes[i].Start = r.since()
	return false
}

func (p *pool) work() {
	defer p.wg.Done()
	for {
		select {
		case j := <-p.jobs:
			j.r.send(j.i, j.path, time.Since(j.ready))
			j.r.done <- j.i
		case <-p.quit:
			return
		}
	}
}

// Close stops the workers after their current calls; later calls get
// ErrClosed. A process-wide Executor need never be closed; tests close theirs.
func (p *pool) Close() error {
	p.stop.Do(func() { close(p.quit) })
	p.wg.Wait()
	return nil
}

// Size returns the number of workers.
func (p *pool) Size() int { return p.size }
