package server

import (
	"fmt"

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

// circuitOpen answers 503 at once, before any backend work, when the
// breaker of a required call's backend would refuse the call (open, or
// half-open with its probes out): the request would fail on that call
// anyway, and waiting for its siblings (the primary is never cancelled)
// would only make the refusal slow. It reports whether it answered.
func (s *Server) circuitOpen(ctx *fasthttp.RequestCtx, op *operation) bool {
	if s.breakers == nil || op.plan == nil {
		return false
	}
	for _, c := range op.plan.Calls() {
		if c.Spec.Optional || s.breakers.Admits(c.Spec.Backend) {
			continue
		}
		s.metrics.Error(metrics.KindUnavailable)
		ctx.Response.Header.Set("Retry-After", s.breakers.RetryAfter())
		problem.Write(ctx, callProblem(c.Spec, problem.TypeUnavailable, fasthttp.StatusServiceUnavailable, backend.KindCircuitOpen, 0))
		return true
	}
	return false
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
