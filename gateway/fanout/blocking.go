package fanout

import (
	"context"
	"sync"
	"time"
)

// blocking is the concurrent mode with the classic pitfall: every backend call
// is made while holding one lock shared by every request the Executor serves,
// as a blocking call inside an event loop stalls every task. One slow call
// stalls everyone; Outcome.Wait shows the time spent waiting for the lock.
//
// The lock belongs to the Executor, and the gateway holds one Executor per
// process, so it is process-wide there while tests stay independent. Waiting
// for it ignores ctx, as a blocked event loop would; a call that gets the lock
// after ctx is done, or after a required call of its run failed, is not sent.
type blocking struct {
	mu     sync.Mutex
	runAll bool // Options.RunAll
}

func (*blocking) Mode() string { return ModeBlocking }

func (b *blocking) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, p, params, d, abortUnless(b.runAll, abortCancel))
	r.runGraph(b)
	return r.finish()
}

func (b *blocking) launch(r *Result, i int, path string) bool {
	go b.sendLocked(r, i, path)
	return true
}

func (b *blocking) sendLocked(r *Result, i int, path string) {
	b.inline(r, i, path)
	r.done <- i
}

func (b *blocking) inline(r *Result, i int, path string) bool {
	t0 := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	r.send(i, path, time.Since(t0))
	return true
}

// withdraw has nothing to take back: a goroutine waiting for the lock cannot
// be interrupted, which is the pitfall.
func (*blocking) withdraw(_ *Result, dst []int) []int { return dst }
