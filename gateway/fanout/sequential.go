package fanout

import "context"

// sequential sends the calls one after another in topological order, in the
// caller's goroutine: the naive blocking client, whose latency is the sum.
type sequential struct{ runAll bool }

func (sequential) Mode() string { return ModeSequential }

func (s sequential) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	// Nothing is in flight beside the call that fails: stopping is enough.
	r := newRun(ctx, p, params, d, nil, abortUnless(s.runAll, abortStop))
	var buf [128]byte
	for i := range p.calls {
		if path, ok := r.prepare(i, buf[:0]); ok {
			r.send(i, path, 0)
		}
	}
	return r.finish()
}
