package fanout

import (
	"context"
	"time"
)

// A Disowner is a Doer that can be told that a body it returned was not
// the answer to the call it was returned for: the answer to another
// question, which a backend sent out of turn on the connection the call
// used. That connection is out of step (the call's own answer may still
// be on its way on it), so the Doer must not send another call on it.
// The engine calls Disown before it asks the question again. Disown must
// be safe for concurrent use with Do, and a body the Doer does not know
// (a copy a policy shared) is ignored.
type Disowner interface {
	Disown(body []byte)
}

// An Accepter is a Policy that keeps answers for later calls (a cache).
// The engine checks an answer only once the Policy has returned it, so
// such a Policy keeps nothing in Do: the engine calls Accept with each
// answer of the call's own attempt (ViaCall) that it delivers, 2xx and
// past every check, before the Result is released. body is the request's
// and must be copied to be kept. Accept must be safe for concurrent use.
type Accepter interface {
	Accept(path string, status int, body []byte)
}

// strayAnswer reports whether call i, answered, should ask its question
// again: its answer is for another resource than the one asked for, the
// call is a GET, and neither its context nor the run has ended.
//
// This is not a retry policy and spends no retry budget. A retry repeats
// a question the backend did not answer well; here
// the backend was never heard at all: an answer that names another
// resource is the answer to another question, read on a connection out
// of step (a backend that wrote a second, stray answer), exactly as if
// that connection had been reset before any answer, which the backend
// client already retries for a GET. So every GET call asks again, once,
// on another connection, within its own deadline; a POST might have taken
// effect, and is never sent twice.
func (r *run) strayAnswer(ctx context.Context, i int) bool {
	o := &r.res.Outcomes[i]
	ae, ok := o.Err.(*AnswerError)
	return ok && ae.Stray && r.plan.calls[i].Spec.Method == "GET" &&
		ctx.Err() == nil && r.stopped(i) == nil
}

// askAgain asks call i's question a second time, after its Doer was told
// that the stray answer was not the call's (see Disowner), so that the
// connection that carried it carries nothing more. The second answer is
// the call's, whatever it is: a second stray one fails the call.
func (r *run) askAgain(ctx context.Context, i int, path string, t0 time.Time) {
	o := &r.res.Outcomes[i]
	if d, ok := r.doer.(Disowner); ok {
		d.Disown(o.Body)
	}
	st := &r.plan.steps[i]
	vals := r.vals[st.slot0 : st.slot0+len(st.fields)]
	for k := range vals {
		vals[k] = value{why: notScanned}
	}
	o.Reasked = true
	r.ask(ctx, i, path, t0)
}

// accept hands the delivered answer of call i to those of its policies
// that keep answers (Accepter), if the answer is the call's own.
func (r *run) accept(i int, path string) {
	_, ps := policiesOf(r.doer, i)
	if len(ps) == 0 || r.res.Outcomes[i].Via != ViaCall {
		return
	}
	o := &r.res.Outcomes[i]
	for _, p := range ps {
		if a, ok := p.(Accepter); ok {
			a.Accept(path, o.Status, o.Body)
		}
	}
}
