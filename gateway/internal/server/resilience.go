package server

import (
	"fmt"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// ShedRetryAfter is the Retry-After, in seconds, of a request shed by the
// overload limit: the limit adapts every tenth of a second, so one second
// is enough for a client to find room.
const ShedRetryAfter = "1"

// admit passes a request of op through the overload limit. It reports
// whether the request holds a place, which the caller gives back with the
// limiter's Release, or false once it has answered the request 503: shed
// before any backend is called. A request with a body comes here only once its body
// is read (serve), so that a client sending it slowly holds no place. Operations without backend calls
// (the document) are never limited: admitted without a place.
func (s *Server) admit(ctx *fasthttp.RequestCtx, op *operation) (admitted, holds bool) {
	if s.limiter == nil || op.plan == nil {
		return true, false
	}
	// Writes carry a user's input: reads give way first.
	p := overload.Sheddable
	if op.doc.Method == fasthttp.MethodPost {
		p = overload.Critical
	}
	if s.limiter.Acquire(p) {
		return true, true
	}
	ctx.Response.Header.Set("Retry-After", ShedRetryAfter)
	problem.Write(ctx, problem.New(problem.TypeOverloaded, fasthttp.StatusServiceUnavailable,
		"the gateway is at its limit of requests in progress; retry after the Retry-After delay"))
	return false, false
}

// circuitOpen answers 503 at once, before any backend work, when a
// policy of a required call would refuse it without calling its backend
// (a fanout.Refuser: an open breaker, or a half-open one with its probes
// out): the request would fail on that call anyway, and waiting for its
// siblings (the primary is never cancelled) would only make the refusal
// slow. It reports whether it answered.
func (s *Server) circuitOpen(ctx *fasthttp.RequestCtx, op *operation) bool {
	if op.refusers == nil {
		return false
	}
	for _, c := range op.plan.Calls() {
		if c.Spec.Optional {
			continue
		}
		r := op.refuser(c.Index)
		if r == nil {
			continue
		}
		s.metrics.Error(metrics.KindUnavailable)
		ctx.Response.Header.Set("Retry-After", r.RetryAfter())
		problem.Write(ctx, callProblem(c.Spec, problem.TypeUnavailable, fasthttp.StatusServiceUnavailable, backend.KindCircuitOpen, 0))
		return true
	}
	return false
}

// refuser returns the first of the policies of the call of index i that
// would refuse it now; nil if none would.
func (op *operation) refuser(i int) fanout.Refuser {
	for _, r := range op.refusers[i] {
		if r.Refuses(&op.plan.Calls()[i]) {
			return r
		}
	}
	return nil
}

// refusersOf returns the fanout.Refusers among each call's policies, by
// call index; nil if no call has one.
func refusersOf(policies [][]fanout.Policy) [][]fanout.Refuser {
	var out [][]fanout.Refuser
	for i, ps := range policies {
		for _, p := range ps {
			r, ok := p.(fanout.Refuser)
			if !ok {
				continue
			}
			if out == nil {
				out = make([][]fanout.Refuser, len(policies))
			}
			out[i] = append(out[i], r)
		}
	}
	return out
}

// resilienceMetrics registers the gauge and counters of the overload
// limit, if it is on: the current limit and the requests shed. The calls'
// policies register their own (policy.New).
func (s *Server) resilienceMetrics() {
	if s.limiter != nil {
		s.metrics.Gauge("fanout_overload_limit", "", func() float64 { return float64(s.limiter.Limit()) })
		for p, name := range map[overload.Priority]string{overload.Sheddable: "read", overload.Critical: "write"} {
			s.metrics.CounterFunc("fanout_requests_shed_total", fmt.Sprintf("priority=%q", name),
				func() float64 { return float64(s.limiter.Shed(p)) })
		}
	}
}
