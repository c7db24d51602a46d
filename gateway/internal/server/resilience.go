package server

import (
	"context"
	"fmt"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/breaker"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// ShedRetryAfter is the Retry-After, in seconds, of a request shed by the
// overload limit: the limit adapts every tenth of a second, so one second
// is enough for a client to find room.
const ShedRetryAfter = "1"

// admit passes a request of o through the overload limit. It reports
// whether the request holds a place, which the caller gives back with the
// limiter's Release, or false once it has answered the request 503: shed
// before any backend is called. A request with a body comes here only once its body
// is read (serve), so that a client sending it slowly holds no place. Operations without backend calls
// (the document) are never limited: admitted without a place.
func (s *Server) admit(ctx *fasthttp.RequestCtx, o *operation) (admitted, holds bool) {
	if s.limiter == nil || o.plan == nil {
		return true, false
	}
	// Writes carry a user's input: reads give way first.
	p := overload.Sheddable
	if o.doc.Method == fasthttp.MethodPost {
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
func (s *Server) circuitOpen(ctx *fasthttp.RequestCtx, o *operation) bool {
	if s.breakers == nil || o.plan == nil {
		return false
	}
	for _, c := range o.plan.Calls() {
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

// guardDoer passes each call through a process-wide guard: the breakers
// or the retry budget, which perform the call with next.
type guardDoer struct {
	guard interface {
		Do(ctx context.Context, next fanout.Doer, backend, method, path string) (int, []byte, error)
	}
	next fanout.Doer
}

func (d *guardDoer) Do(ctx context.Context, b, method, path string) (int, []byte, error) {
	return d.guard.Do(ctx, d.next, b, method, path)
}

// Interrupt passes the engine's interrupt on (see fanout.Doer).
func (d *guardDoer) Interrupt() { interrupt(d.next) }

// Disown passes the engine's word that a body was not its call's answer
// on (see fanout.Disowner).
func (d *guardDoer) Disown(body []byte) { disown(d.next, body) }

func interrupt(d fanout.Doer) {
	if in, ok := d.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}

func disown(d fanout.Doer, body []byte) {
	if dn, ok := d.(fanout.Disowner); ok {
		dn.Disown(body)
	}
}

// guard wraps d in the policies that are on: the retry outermost, so that
// each attempt passes the breaker and is counted by it. The wrappers live
// in the request's state, so that a request costs no allocation for them.
func (s *Server) guard(st *state, d fanout.Doer) fanout.Doer {
	if s.breakers != nil {
		st.brk = guardDoer{guard: s.breakers, next: d}
		d = &st.brk
	}
	if s.retry != nil {
		st.rty = guardDoer{guard: s.retry, next: d}
		d = &st.rty
	}
	return d
}

// resilienceMetrics registers the gauges and counters of the policies
// that are on: breaker states and transitions per backend, requests shed
// and the current limit, hedges and retries refused by their budgets,
// retries sent.
func (s *Server) resilienceMetrics() {
	if s.breakers != nil {
		for _, name := range s.backends.Names() {
			label := fmt.Sprintf("backend=%q", name)
			s.metrics.Gauge("fanout_breaker_state", label, func() float64 { return float64(s.breakers.State(name)) })
			s.metrics.CounterFunc("fanout_breaker_refused_total", label, func() float64 { return float64(s.breakers.Refused(name)) })
			for _, from := range []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open} {
				for _, to := range []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open} {
					if from == to {
						continue
					}
					s.metrics.CounterFunc("fanout_breaker_transitions_total",
						fmt.Sprintf("%s,from=%q,to=%q", label, from, to),
						func() float64 { return float64(s.breakers.Transitions(name, from, to)) })
				}
			}
		}
	}
	if s.limiter != nil {
		s.metrics.Gauge("fanout_overload_limit", "", func() float64 { return float64(s.limiter.Limit()) })
		for p, name := range map[overload.Priority]string{overload.Sheddable: "read", overload.Critical: "write"} {
			s.metrics.CounterFunc("fanout_requests_shed_total", fmt.Sprintf("priority=%q", name),
				func() float64 { return float64(s.limiter.Shed(p)) })
		}
	}
	// The budget is process-wide, so its refusals are one series.
	s.metrics.CounterFunc("fanout_hedges_denied_total", "", func() float64 { return float64(s.hedgeBudget.Denied()) })
	if s.retry != nil {
		s.metrics.CounterFunc("fanout_retries_total", "", func() float64 { return float64(s.retry.Retries()) })
		s.metrics.CounterFunc("fanout_retries_denied_total", "", func() float64 { return float64(s.retry.Denied()) })
	}
}
