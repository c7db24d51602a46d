package fanout

import "context"

// concurrent starts each call in its own goroutine the moment its last
// dependency finishes: the latency is the plan's critical path.
type concurrent struct{}

func (concurrent) Mode() string { return ModeConcurrent }

func (c concurrent) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, p, params, d)
	r.runGraph(c)
	return r.finish()
}

func (concurrent) launch(r *Result, i int, path string) bool {
	go r.sendAndReport(i, path)
	return true
}

func (concurrent) inline(r *Result, i int, path string) bool {
	r.send(i, path, 0)
	return true
}

// withdraw has nothing to take back: every launched call has started, and
// ends with its Doer when ctx is done.
func (concurrent) withdraw(_ *Result, dst []int) []int { return dst }
