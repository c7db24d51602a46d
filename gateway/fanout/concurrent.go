package fanout

import "context"

// concurrent starts each call in its own goroutine the moment its last
// dependency finishes: the latency is the plan's critical path.
type concurrent struct{}

func (concurrent) Mode() string { return ModeConcurrent }

func (concurrent) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newResult(ctx, p, params, d)
	r.runGraph(launchGoroutine)
	return r.finish()
}

func launchGoroutine(r *Result, i int, path string) bool {
	go r.sendAndReport(i, path)
	return true
}
