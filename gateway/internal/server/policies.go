package server

import (
	"fmt"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/spec"
)

// policies builds the Policy of each call of op that declares one (hedge,
// coalesce, cache) and registers its counters on /metrics; nil if no call
// does; coalescing and caching are left out when the server's NoCoalesce
// says so. The Policies live as long as the Server: a learned hedging delay,
// the calls in flight and the cache are shared by every request. Hedges
// draw on the Server's one budget.
func (s *Server) policies(op *spec.Operation) ([]fanout.Policy, error) {
	var ps []fanout.Policy
	for _, c := range op.Plan.Calls() {
		var p fanout.Policy
		labels := fmt.Sprintf("operation=%q,call=%q", op.ID, c.Spec.Name)
		switch sp := c.Spec; {
		case sp.Hedge != nil && (sp.Coalesce || sp.Cache > 0):
			// Each would count the other's calls as its own: a shared
			// answer is not a slow call, a duplicate not a saved one.
			return nil, fmt.Errorf("new server: operation %s: call %q: hedge and coalesce or cache on one call are not supported", op.ID, sp.Name)
		case sp.Hedge != nil:
			h, err := fanout.NewHedger(*sp.Hedge, s.hedgeBudget)
			if err != nil {
				return nil, fmt.Errorf("new server: operation %s: call %q: %w", op.ID, sp.Name, err)
			}
			s.metrics.CounterFunc("fanout_hedges_sent_total", labels, func() float64 { return float64(h.Sent()) })
			s.metrics.CounterFunc("fanout_hedges_won_total", labels, func() float64 { return float64(h.Won()) })
			p = h
		case s.noCoalesce:
			continue
		case sp.Coalesce || sp.Cache > 0:
			co, err := fanout.NewCoalescer(sp.Coalesce, sp.Cache, 0)
			if err != nil {
				return nil, fmt.Errorf("new server: operation %s: call %q: %w", op.ID, sp.Name, err)
			}
			if sp.Coalesce {
				s.metrics.CounterFunc("fanout_coalesced_calls_total", labels, func() float64 { return float64(co.Coalesced()) })
			}
			if sp.Cache > 0 {
				s.metrics.CounterFunc("fanout_cache_hits_total", labels, func() float64 { return float64(co.Hits()) })
				s.metrics.CounterFunc("fanout_cache_misses_total", labels, func() float64 { return float64(co.Misses()) })
			}
			p = co
		default:
			continue
		}
		if ps == nil {
			ps = make([]fanout.Policy, op.Plan.Len())
		}
		ps[c.Index] = p
	}
	return ps, nil
}

// withPolicies returns d bound to the policies of o's calls, in st's
// scratch space, or d itself if o has none.
func (st *state) withPolicies(o *operation, d fanout.Doer) fanout.Doer {
	if o.policies == nil {
		return d
	}
	st.pd = fanout.PolicyDoer{Next: d, Policies: o.policies}
	return &st.pd
}
