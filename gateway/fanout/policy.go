package fanout

import (
	"context"
	"time"
)

// HedgeSpec is a call's hedging policy, as declared in x-fanout:
// `hedge: {after: 30ms | p95, max: 1}`. When the call has not answered
// After into it (or, with Quantile, the learned quantile of its recent
// latencies), a duplicate is sent; the first answer wins and the others are
// cancelled (see Hedger).
type HedgeSpec struct {
	// After is the fixed delay before a duplicate; 0 when Quantile is set.
	After time.Duration
	// Quantile, between 0 and 1 exclusive, learns the delay online as that
	// quantile of the call's recent latencies (0.95 for "p95"); 0 means
	// After is fixed.
	Quantile float64
	// Max is the number of duplicates at most; 0 means 1.
	Max int
}

// Via says how a call's answer came: from the call's own attempt, or
// through one of its policies. Server-Timing shows it.
type Via uint8

// The ways an answer can come.
const (
	ViaCall      Via = iota // the call's own, first attempt
	ViaHedge                // a hedged duplicate answered first
	ViaCoalesced            // another request's identical call, shared
	ViaCache                // the call's response cache
)

// String returns the name Server-Timing gives the way, "" for ViaCall.
func (v Via) String() string {
	switch v {
	case ViaHedge:
		return "hedge"
	case ViaCoalesced:
		return "coalesced"
	case ViaCache:
		return "cache"
	}
	return ""
}

// A Policy is the one shape of what acts on a backend call's path: a
// retry, a hedged duplicate, a breaker, the coalescing or caching of equal
// calls. It is bound to calls of a plan and keeps state of its own across
// requests (a latency sketch, the calls in flight, a cache, a breaker's
// counts): Do performs call, whose rendered path is path, through next,
// the rest of the call's way (its following policies, then the request's
// Doer), or answers without it, and says how the answer came.
//
// It must keep the Doer contract (safe for concurrent use; a body valid
// until the Result is released, so a body shared with other requests must
// be a copy that nobody modifies) and must return only once no call it
// started through next is still running: next belongs to one request,
// whose buffers are freed after its Execute. call is the Plan's: read-only.
type Policy interface {
	Do(ctx context.Context, call *Call, path string, next Next) (status int, body []byte, via Via, err error)
}

// A Refuser is a Policy that knows, before a request starts, that it
// would refuse a call at once without calling its backend (a circuit
// breaker that is open): a server answers such a request 503 before any
// backend work, as the call would fail anyway. RetryAfter is the time, in
// seconds for a Retry-After header, after which the policy may admit a
// call again: what a client should wait after a refusal, before the run
// or during it.
type Refuser interface {
	Policy
	Refuses(call *Call) bool
	RetryAfter() string
}

// Next is the rest of a call's way to its backend: the policies after the
// one at hand, outermost first, then the request's Doer. It is a small
// value, passed by copy, so that a call going through its policies costs
// no allocation. The zero Next has no Doer: only Chain and the engine
// make one.
type Next struct {
	call *Call
	rest []Policy
	doer Doer
}

// Chain returns the way of call through ps, the first outermost, then d:
// Do on it passes the call to ps[0] with the rest as its next, and so on
// to d. It is what the engine does for each call of a PolicyDoer, for a
// caller that composes policies by hand, such as a test.
func Chain(call *Call, d Doer, ps ...Policy) Next {
	return Next{call: call, rest: ps, doer: d}
}

// Do passes the call on, with the path given: to the next policy, or to
// the Doer, whose answer came ViaCall.
func (n Next) Do(ctx context.Context, path string) (int, []byte, Via, error) {
	if len(n.rest) > 0 {
		return n.rest[0].Do(ctx, n.call, path, Next{call: n.call, rest: n.rest[1:], doer: n.doer})
	}
	s := &n.call.Spec
	status, body, err := n.doer.Do(ctx, s.Backend, s.Method, path)
	return status, body, ViaCall, err
}

// Interrupt tells the request's Doer, if it takes it, that contexts of
// its calls are done (see Doer): a policy that cancels the attempts it
// started (a hedge's losers) calls it before it waits for them.
func (n Next) Interrupt() {
	if in, ok := n.doer.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}

// PolicyDoer is a Doer that passes each call of a plan through that call's
// policies: Policies[i], outermost first, for the call of Index i; none
// (nil, or beyond the slice) for a call without any. Executors recognize
// it; as a plain Doer it calls Next. It is meant to live in a request's
// scratch space, so that binding the policies to a request costs no
// allocation.
type PolicyDoer struct {
	Next     Doer
	Policies [][]Policy
}

// Do performs a call without policy: Next.Do.
func (d *PolicyDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	return d.Next.Do(ctx, backend, method, path)
}

// Interrupt passes the engine's interruption on to Next, if it has one:
// the duplicates and the calls a policy starts run through Next.
func (d *PolicyDoer) Interrupt() {
	if in, ok := d.Next.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}

// Disown passes the engine's word that body was not its call's answer on
// to Next, if it takes it (see Disowner): the calls a policy starts run
// through Next.
func (d *PolicyDoer) Disown(body []byte) {
	if dn, ok := d.Next.(Disowner); ok {
		dn.Disown(body)
	}
}

// policiesOf returns the policies of call i if d is a PolicyDoer that has
// any for it.
func policiesOf(d Doer, i int) (*PolicyDoer, []Policy) {
	if pd, ok := d.(*PolicyDoer); ok && i < len(pd.Policies) {
		return pd, pd.Policies[i]
	}
	return nil, nil
}

// doCall performs call c, whose path is path, through its policies, if it
// has any.
func doCall(d Doer, ctx context.Context, c *Call, path string) (int, []byte, Via, error) {
	if pd, ps := policiesOf(d, c.Index); len(ps) > 0 {
		return ps[0].Do(ctx, c, path, Next{call: c, rest: ps[1:], doer: pd.Next})
	}
	status, body, err := d.Do(ctx, c.Spec.Backend, c.Spec.Method, path)
	return status, body, ViaCall, err
}
