package server

import (
	"bytes"
	"context"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/tracing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// startTrace begins the request's server span, from the client's trace
// context if it sent one; nil, at the cost of one nil check, when tracing
// is off. serve calls it as the request arrives, and hands it to begin.
func (s *Server) startTrace(ctx *fasthttp.RequestCtx, op *operation) *tracing.Request {
	if s.tracer == nil {
		return nil
	}
	rt := s.tracer.Start(op.doc.ID, op.doc.Method, op.doc.Path,
		ctx.Request.Header.Peek(backend.TraceparentHeader), ctx.Request.Header.Peek(backend.TracestateHeader))
	return rt
}

// refusals are the problems that refuse a request before any work, by who
// the client is or how much it asks: a span and an access line say which.
var refusals = map[string]bool{
	problem.TypeUnauthorized:     true,
	problem.TypeForbidden:        true,
	problem.TypeRateLimited:      true,
	problem.TypeOverloaded:       true,
	problem.TypeTooManyBodyBytes: true,
	problem.TypeStoreUnavailable: true,
	problem.TypeIdempotencyQuota: true,
}

// finish ends the request's server span and writes its access line, if
// the access log samples it. Everything either says is read from the
// answer as sent (its status, its problem, Fanout-Partial), so that no
// handler need know of them. A success that is neither traced nor
// sampled costs a comparison and a random draw.
func (s *Server) finish(ctx *fasthttp.RequestCtx, op *operation, start time.Time, rt *tracing.Request) {
	status := ctx.Response.StatusCode()
	logged := s.access.Sampled(status)
	if !logged && !rt.Recording() {
		rt.End(tracing.Answer{}) // a span not recorded keeps nothing of it
		return
	}
	a := tracing.Answer{Status: status, RequestID: string(ctx.Response.Header.Peek(backend.RequestIDHeader))}
	if t := requestToken(ctx); t != nil {
		a.Token = t.Name
	}
	if status >= 400 && bytes.HasPrefix(ctx.Response.Header.ContentType(), []byte(problem.ContentType)) {
		typ, call := problemOf(ctx.Response.Body())
		a.Problem = strings.TrimPrefix(typ, problemPrefix)
		if refusals[typ] {
			a.Refused = a.Problem
		}
		if call != "" {
			a.FailedCalls = []string{call}
		}
	}
	if partial := ctx.Response.Header.Peek(PartialHeader); len(partial) > 0 {
		a.FailedCalls = strings.Split(string(partial), ", ")
	}
	rt.End(a)
	if !logged {
		return
	}
	e := accesslog.Entry{
		RequestID: a.RequestID, Operation: op.doc.ID, Method: op.doc.Method, Status: status,
		Duration: time.Since(start), Bytes: len(ctx.Response.Body()), Token: a.Token,
		Problem: a.Problem, FailedCalls: a.FailedCalls,
	}
	if sc := rt.SpanContext(); sc.IsValid() {
		e.TraceID = sc.TraceID().String()
	} else if sc, ok := tracing.ParseTraceparent(ctx.Request.Header.Peek(backend.TraceparentHeader)); ok {
		// Tracing off, the client's trace still finds the line.
		e.TraceID = sc.TraceID().String()
	}
	s.access.Log(&e)
}

// finishUnrouted writes the access line of a request answered outside
// every operation (no such path or method, a request fasthttp could not
// read), always an error: it has no operation, no token and no trace.
func (s *Server) finishUnrouted(ctx *fasthttp.RequestCtx, start time.Time) {
	status := ctx.Response.StatusCode()
	if !s.access.Sampled(status) {
		return
	}
	typ, _ := problemOf(ctx.Response.Body())
	s.access.Log(&accesslog.Entry{
		RequestID: string(ctx.Response.Header.Peek(backend.RequestIDHeader)), Method: string(ctx.Method()),
		Status: status, Duration: time.Since(start), Bytes: len(ctx.Response.Body()),
		Problem: strings.TrimPrefix(typ, problemPrefix),
	})
}

// problemPrefix is what every problem type starts with.
const problemPrefix = "urn:fanout:problem:"

// problemOf reads the type and the failed call of a problem body.
func problemOf(body []byte) (typ, call string) {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return "", ""
	}
	return string(v.GetStringBytes("type")), string(v.GetStringBytes("call"))
}

// callKey is the context key of the call a traced request's Doer performs.
type callKey struct{}

// StartCall implements fanout.Observer: a recorded request's calls carry
// their Call to the traceDoer, which names their spans after it. Any
// other request's calls are left as they are, at no cost.
func (p *params) StartCall(ctx context.Context, c *fanout.Call) context.Context {
	if p.trace == nil {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, c)
}

// EndCall implements fanout.Observer: a call of a recorded request that
// was answered without an attempt of its own on the wire (another
// request's coalesced call, the cache, an open breaker) gets a client span
// that says so; the attempts on the wire have theirs from the traceDoer.
func (p *params) EndCall(ctx context.Context, c *fanout.Call, o *fanout.Outcome) {
	if p.trace == nil {
		return
	}
	call := tracing.Call{Name: c.Spec.Name, Backend: c.Spec.Backend, Method: c.Spec.Method, Start: time.Now().Add(-o.Duration)}
	switch {
	case o.Via == fanout.ViaCoalesced || o.Via == fanout.ViaCache:
		call.Via = o.Via.String()
	case o.Err != nil && backend.KindOf(o.Err) == backend.KindCircuitOpen:
		call.Via = string(backend.KindCircuitOpen)
	default:
		return
	}
	_, span := p.trace.StartCall(ctx, call)
	span.End(o.Status, failure(o.Err))
}

// failure is the kind of a call's failure for its span; "" if it answered.
func failure(err error) string {
	if err == nil {
		return ""
	}
	return string(backend.KindOf(err))
}

// traceDoer gives each attempt of a recorded request's calls on the wire
// a client span, whose id the Exchange sends in the attempt's traceparent:
// a hedged duplicate and a retry get their own, marked. It lives in the
// request's state, as the binding of the calls' policies does.
type traceDoer struct {
	rt   *tracing.Request
	next fanout.Doer
}

func (d *traceDoer) Do(ctx context.Context, b, method, path string) (int, []byte, error) {
	name := b
	if c, ok := ctx.Value(callKey{}).(*fanout.Call); ok {
		name = c.Spec.Name
	}
	ctx, span := d.rt.StartCall(ctx, tracing.Call{Name: name, Backend: b, Method: method, Path: path,
		Attempt: fanout.AttemptOf(ctx).String()})
	status, body, err := d.next.Do(ctx, b, method, path)
	span.End(status, failure(err))
	return status, body, err
}

// Interrupt passes the engine's interrupt on (see fanout.Doer).
func (d *traceDoer) Interrupt() { interrupt(d.next) }

// Disown passes the engine's word that a body was not its call's answer
// on (see fanout.Disowner).
func (d *traceDoer) Disown(body []byte) { disown(d.next, body) }

// traced binds the request's trace to d, the Exchange or what wraps it:
// innermost, so that every attempt on the wire has a span. A request that
// is not recorded keeps d; its calls still carry its trace context
// (Exchange.SetTrace).
func (st *state) traced(d fanout.Doer) fanout.Doer {
	if st.params.trace == nil {
		return d
	}
	st.trc = traceDoer{rt: st.params.trace, next: d}
	return &st.trc
}
