package fanout

import (
	"context"
	"fmt"
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

// A Policy is Doer middleware bound to one call of a plan, with state of
// its own across requests (a latency sketch, the calls in flight, a
// cache): it performs the call through next, the request's Doer, and says
// how the answer came. It must keep the Doer contract (safe for concurrent
// use; a body valid until the Result is released, so a body shared with
// other requests must be a copy that nobody modifies) and must return only
// once no call it started through next is still running: next belongs to
// one request, whose buffers are freed after its Execute.
type Policy interface {
	Do(ctx context.Context, next Doer, backend, method, path string) (status int, body []byte, via Via, err error)
}

// PolicyDoer is a Doer that passes each call of a plan through that call's
// Policy: Policies[i] for the call of Index i, nil (or beyond the slice)
// for a call without one. Executors recognize it; as a plain Doer it calls
// Next. It is meant to live in a request's scratch space, so that binding
// the policies to a request costs no allocation.
type PolicyDoer struct {
	Next     Doer
	Policies []Policy
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

// doCall performs call i through its Policy, if it has one.
func doCall(d Doer, ctx context.Context, i int, backend, method, path string) (int, []byte, Via, error) {
	if pd, ok := d.(*PolicyDoer); ok && i < len(pd.Policies) && pd.Policies[i] != nil {
		return pd.Policies[i].Do(ctx, pd.Next, backend, method, path)
	}
	status, body, err := d.Do(ctx, backend, method, path)
	return status, body, ViaCall, err
}

// checkPolicy refuses a policy a call cannot have: hedging, coalescing or
// caching a call that is not a GET (a duplicate or a shared answer of a
// call with effects is wrong), a negative delay or lifetime, a quantile
// outside (0, 1), a negative number of duplicates. s.Method is normalized.
func checkPolicy(s *CallSpec) error {
	if h := s.Hedge; h != nil {
		if s.Method != "GET" {
			return fmt.Errorf("hedge: a %s call is not idempotent; only GET calls may be hedged", s.Method)
		}
		switch {
		case h.After < 0:
			return fmt.Errorf("hedge: negative delay %v", h.After)
		case h.Quantile < 0 || h.Quantile >= 1:
			return fmt.Errorf("hedge: quantile %v is not between 0 and 1", h.Quantile)
		case h.Quantile == 0 && h.After == 0:
			return fmt.Errorf("hedge: no delay (after: a duration or a quantile such as p95)")
		case h.Max < 0:
			return fmt.Errorf("hedge: negative max %d", h.Max)
		}
	}
	if s.Coalesce && s.Method != "GET" {
		return fmt.Errorf("coalesce: only GET calls may share an answer, not %s", s.Method)
	}
	if s.Cache < 0 {
		return fmt.Errorf("cache: negative lifetime %v", s.Cache)
	}
	if s.Cache > 0 && s.Method != "GET" {
		return fmt.Errorf("cache: only the answers of GET calls may be cached, not %s", s.Method)
	}
	return nil
}
