package fanout

import "context"

// staged gathers each dependency level concurrently and waits for all of it
// before the next: better than sequential, but a level's slowest call holds
// back dependents of its fastest.
type staged struct{ runAll bool }

func (staged) Mode() string { return ModeStaged }

func (s staged) Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result {
	r := newRun(ctx, p, params, d, nil, abortUnless(s.runAll, abortCancel))
	var buf [128]byte
	for _, level := range p.levels {
		launched := 0
		inline, inlinePath := -1, ""
		for _, i := range level {
			path, ok := r.prepare(i, buf[:0])
			if !ok {
				continue
			}
			// The caller's goroutine runs one call of the level itself instead
			// of idling: one goroutine fewer per level.
			if inline < 0 {
				inline, inlinePath = i, path
				continue
			}
			go r.sendAndReport(i, path)
			launched++
		}
		if inline >= 0 {
			r.send(inline, inlinePath, 0)
		}
		for ; launched > 0; launched-- {
			<-r.done
		}
	}
	return r.finish()
}

// sendAndReport sends call i and reports it finished on r.done.
func (r *run) sendAndReport(i int, path string) {
	r.send(i, path, 0)
	r.done <- i
}
