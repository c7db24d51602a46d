package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/compose"
	"fanout/gateway/internal/lazyctx"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/tracing"
	"fanout/gateway/internal/transport"

	"github.com/valyala/fasthttp"
)

// request is one request of an operation on its way through the handler
// path, from the checks of serve to the answer: what every step needs,
// bundled so that a step takes one argument. It lives in the request's
// pooled state, so that it costs no allocation, and is valid until serve
// returns, when end recycles it.
type request struct {
	ctx   *fasthttp.RequestCtx
	op    *operation
	st    *state
	start time.Time // when the request arrived
	// res is the run's result: nil before the run, and for an answer
	// given without one (a replayed create). offset is when the run
	// started, from start.
	res    *fanout.Result
	offset time.Duration
	// hidden: the request was answered as for a resource that does not
	// exist, its project being one the token does not see (hide).
	hidden bool
}

// state is the scratch space of one request of an operation, recycled.
type state struct {
	req    request
	params params
	buf    []byte            // Server-Timing, then the composed body
	ex     *backend.Exchange // the request's calls, carrying its id
	// dl is the run's context: the request's deadline, which gone ends
	// early. A lazy context arms no timer unless a policy waits on it.
	// While execute watches the client, in, if the Doer has it, cuts the
	// calls on the wire. goneFn is st.gone, bound once so that a watch
	// costs no closure.
	dl     lazyctx.Context
	in     interface{ Interrupt() }
	goneFn func()
	// left: the client went away during the run (set by gone, on the
	// watcher's goroutine).
	left atomic.Bool
	// pd binds the operation's call policies to the request's Doer.
	pd fanout.PolicyDoer
	// trc traces the calls of a recorded request (see traced).
	trc traceDoer
}

var states = sync.Pool{New: func() any {
	st := &state{buf: make([]byte, 0, 4096)}
	st.goneFn = st.gone
	st.req.st = st
	return st
}}

// gone is what the client's going away does: it cancels the run's context,
// so that the calls not sent yet never are, then interrupts the Doer, so
// that the calls on the wire are cut (the Exchange does not watch their
// contexts; see fanout.Doer).
func (st *state) gone() {
	st.left.Store(true)
	st.dl.Cancel()
	if st.in != nil {
		st.in.Interrupt()
	}
}

// unwatch stops the watch w, after which gone never runs, and forgets what
// gone needed.
func (st *state) unwatch(w *transport.ClientWatch) {
	w.Stop()
	st.in = nil
}

// execute runs the operation's plan for r, with d as the Doer, and leaves
// its result in r.res, which end releases before the Exchange behind d. A
// client that goes away meanwhile cancels the run's context
// (transport.WatchClient), so that the calls not sent yet never are, and
// interrupts d if it can be, so that the calls on the wire are cut; a plan
// of one call has nothing to spare and is not watched.
func (s *Server) execute(r *request, d fanout.Doer) {
	st, op := r.st, r.op
	st.params.fill(r.ctx, op.doc)
	// Each call's policies (hedge, coalesce, cache, retry, breaker: the
	// policy registry's order) wrap the traced Doer, so that every
	// attempt, a duplicate or a retry too, is traced.
	d = st.traced(d)
	d = st.withPolicies(op, d)
	defer func() { st.pd = fanout.PolicyDoer{} }()
	st.dl.Reset(st.params.trace.Context(context.Background()), r.start.Add(s.deadline))
	defer st.dl.Cancel()
	c := &st.dl
	if len(op.plan.Calls()) > 1 {
		st.in, _ = d.(interface{ Interrupt() })
		// Deferred, so that even a panic ends the watch before fasthttp
		// reads from the connection again.
		defer st.unwatch(transport.WatchClient(r.ctx, st.goneFn))
	}
	r.offset = time.Since(r.start)
	r.res = s.exec.Execute(c, op.plan, &st.params, d)
	for i := range r.res.Outcomes {
		if out := &r.res.Outcomes[i]; out.Sent {
			op.calls[i].Observe(out.Duration, out.OK())
			if out.Reasked {
				s.strayAnswer(r, i, out)
			}
		}
	}
}

// strayAnswer counts and logs call i's answer that was for another
// resource than the one asked for: a backend that answers out of turn, on
// a connection the call then left, asking again (see fanout.Disowner).
func (s *Server) strayAnswer(r *request, i int, out *fanout.Outcome) {
	r.op.calls[i].Stray()
	c := r.op.plan.Calls()[i].Spec
	s.log.Info("stray answer refused, call asked again",
		"request_id", string(r.ctx.Response.Header.Peek(backend.RequestIDHeader)), "operation", r.op.doc.ID,
		"call", c.Name, "backend", c.Backend, "second_answer_ok", out.OK())
}

// answered reports, after the run, whether the request has had its answer
// already: its client went away (clientGone), or the engine refused its
// primary resource as one of a project the token does not see, which is
// answered as a resource that does not exist (hide).
func (s *Server) answered(r *request) bool {
	if s.clientGone(r) {
		return true
	}
	if errors.Is(r.res.Outcomes[r.op.primary].Err, errOutOfScope) {
		s.hide(r)
		return true
	}
	return false
}

// proxy answers with the primary call's body as the backend sent it: the
// gateway checks that its status is one the document declares for the
// operation and that it is JSON (an object where the document says so),
// but does not decode it.
func (s *Server) proxy(r *request) {
	s.execute(r, r.st.ex)
	out, ok := s.primary(r)
	if !ok {
		return
	}
	ctx, op := r.ctx, r.op
	pass, ok := op.pass(out.Status)
	if !ok {
		s.writeBadGateway(r, op.primary, backend.KindBadStatus, out.Status, "a status the document does not declare")
		return
	}
	// One bounded pass: fastjson's validator recursed without limit, so
	// that a body of nested arrays overflowed the stack of the process.
	if err := fanout.CheckJSON(out.Body); err != nil {
		s.writeMalformed(r, op.primary, "the body is "+err.Error())
		return
	}
	if pass.object && !bytes.HasPrefix(bytes.TrimLeft(out.Body, " \t\r\n"), []byte("{")) {
		s.writeMalformed(r, op.primary, "the body is not a JSON object")
		return
	}
	ctx.SetStatusCode(out.Status)
	ctx.SetContentType("application/json")
	ctx.SetBody(out.Body)
}

// begin takes a request state from the pool, with the request's
// Exchange if the operation makes calls, its calls carrying the request's
// id and bound to rt, the request's trace if tracing is on, and returns
// its request value. The caller defers end.
func (s *Server) begin(ctx *fasthttp.RequestCtx, op *operation, start time.Time, rt *tracing.Request) *request {
	st := states.Get().(*state)
	r := &st.req
	r.ctx, r.op, r.start = ctx, op, start
	if op.plan == nil {
		return r
	}
	st.ex = s.backends.Exchange()
	st.ex.SetRequestID(ctx.Response.Header.Peek(backend.RequestIDHeader))
	st.params.trace = nil
	if rt != nil {
		st.ex.SetTrace(rt.SpanContext())
		if rt.Recording() {
			st.params.trace = rt
		}
	}
	return r
}

// end releases the run's result, then the request's Exchange, then
// returns the state to the pool: in that order, as the result's bodies
// are the Exchange's, and the state may be reused at once.
func (r *request) end() {
	if r.res != nil {
		r.res.Release()
	}
	st := r.st
	if st.ex != nil {
		st.ex.Release()
		st.ex = nil
	}
	st.trc = traceDoer{}
	st.params.trace = nil
	st.left.Store(false)
	r.ctx, r.op, r.res, r.offset, r.start, r.hidden = nil, nil, nil, 0, time.Time{}, false
	states.Put(st)
}

// primary answers, after the run, a request that has had its answer or
// whose run failed (with the problem); otherwise it returns the primary
// call's outcome for the caller to answer with.
func (s *Server) primary(r *request) (*fanout.Outcome, bool) {
	if s.answered(r) {
		return nil, false
	}
	if p, failed := s.failure(r); failed {
		problem.Write(r.ctx, p)
		return nil, false
	}
	return &r.res.Outcomes[r.op.primary], true
}

// create forwards the validated body to the primary call's backend. The
// call goes through the executor like any other, so the mode applies to it
// (a pool slot, the blocking lock); the Doer adds the body, which the
// engine's calls do not carry. Only a 201 whose body has an id matching the
// document's Id schema is a creation: anything else from the backend is a
// 502, and Location is never built from an id that was not checked. A
// non-nil idem is sent to the backend as Idempotency-Key (idempotency.go).
func (s *Server) create(r *request, idem []byte) {
	ctx, op := r.ctx, r.op
	if idem != nil {
		r.st.ex.SetIdempotencyKey(idem)
	}
	ex, body, conn := r.st.ex, ctx.PostBody(), ctx.Conn()
	withBody := fanout.DoerFunc(func(c context.Context, backend, method, path string) (int, []byte, error) {
		transport.MarkSent(conn)
		return ex.DoBody(c, backend, method, path, "application/json", body)
	})
	s.execute(r, withBody)
	out, ok := s.primary(r)
	if !ok {
		return
	}
	if out.Status != fasthttp.StatusCreated {
		s.writeBadGateway(r, op.primary, backend.KindBadStatus, out.Status, "a create must answer 201")
		return
	}
	var created map[string]json.RawMessage
	if json.Unmarshal(out.Body, &created) != nil {
		s.writeMalformed(r, op.primary, "the body is not a JSON object")
		return
	}
	var id string
	if json.Unmarshal(created[op.location.field], &id) != nil {
		s.writeMalformed(r, op.primary, op.location.field+" is not a JSON string")
		return
	}
	// The backend's answer is not trusted to stay in the project the
	// request named: a created resource the token does not see is not
	// shown to it (nor recorded for a replay).
	if !sees(requestToken(ctx), out.Body) {
		s.writeMalformed(r, op.primary, "the created resource is in a project the token does not see")
		return
	}
	// Without an Id schema to check it against, the id builds no Location.
	if rule, ok := s.spec.ID(); ok {
		if err := rule.Check(id); err != nil {
			s.writeMalformed(r, op.primary, op.location.field+": "+err.Error())
			return
		}
		r.st.buf = op.location.appendPath(r.st.buf[:0], id)
		ctx.Response.Header.SetBytesV("Location", r.st.buf)
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.SetContentType("application/json")
	ctx.SetBody(out.Body)
}

// StatusClientGone is the status a request whose client went away is
// logged and measured with, as nginx does: it is never sent, as nobody
// reads it.
const StatusClientGone = 499

// clientGone ends a request whose client went away while it was fanned
// out, and reports whether it did: the calls the watch cut short failed
// for that, not for their backends, so nothing is counted against them
// (no bad-gateway error; the breakers take a cancelled call as neutral),
// and the request is logged and counted as the client gone. The
// connection is closed without an answer, which nobody would read.
func (s *Server) clientGone(r *request) bool {
	if !r.st.left.Load() {
		return false
	}
	ctx := r.ctx
	s.metrics.Error(metrics.KindClientGone)
	s.log.Info("client gone before its answer",
		"request_id", string(ctx.Response.Header.Peek(backend.RequestIDHeader)), "operation", r.op.doc.ID)
	ctx.SetStatusCode(StatusClientGone)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(dropConn)
	return true
}

// dropConn lets fasthttp close a connection it hands over: nothing is
// written to it.
func dropConn(net.Conn) {}

// writeMalformed answers 502 for a call whose answer the gateway cannot
// use; why goes to the log only.
func (s *Server) writeMalformed(r *request, i int, why string) {
	s.writeBadGateway(r, i, backend.KindMalformed, 0, why)
}

// writeBadGateway answers 502 for call i, which answered but unusably: the
// problem names the call and kind, why goes to the log only.
func (s *Server) writeBadGateway(r *request, i int, kind backend.Kind, status int, why string) {
	c := r.op.plan.Calls()[i].Spec
	s.logCall(r, c, kind, status, errors.New(why))
	s.metrics.Error(metrics.KindBadGateway)
	problem.Write(r.ctx, callProblem(c, problem.TypeBadGateway, fasthttp.StatusBadGateway, kind, status))
}

// PartialHeader is the response header of a results page that lacks parts:
// the names of the missing calls, in plan order, comma-separated
// ("layer, settings"). A complete page has no such header.
const PartialHeader = "Fanout-Partial"

// composed answers with the page the operation composes from its calls
// (operation.page), filled by the calls' indices: which call is which part
// of the page was settled at start-up, from the calls' names.
func (s *Server) composed(r *request) {
	s.execute(r, r.st.ex)
	if s.answered(r) {
		return
	}
	if p, failed := s.failure(r); failed {
		problem.Write(r.ctx, p)
		return
	}
	ctx, op, st := r.ctx, r.op, r.st
	var in compose.Input
	for _, c := range op.plan.Calls() {
		out := &r.res.Outcomes[c.Index]
		var body []byte
		if c.Spec.AllowNotFound && notFound(out) {
			// failure let it pass, the primary call having delivered; the
			// page renders it (New bound the page to the plan).
			op.page.NotYet(&in, c.Index)
			continue
		}
		if usable(out) {
			body = out.Body
		} else {
			in.Missing = append(in.Missing, s.missing(r, c.Spec, out))
		}
		op.page.Set(&in, c.Index, body)
	}
	failed := len(in.Missing)
	var err error
	var blame int
	if st.buf, blame, err = op.page.Compose(st.buf[:0], &in); err != nil {
		s.writeMalformed(r, blame, err.Error())
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(st.buf)
	for _, m := range in.Missing[failed:] {
		// Parts that answered but that composition could not use.
		c := op.plan.Calls()[op.plan.Index(m.Call)].Spec
		s.logCall(r, c, backend.Kind(m.Kind), 0, errors.New(m.Detail))
	}
	if len(in.Missing) > 0 {
		s.metrics.Error(metrics.KindPartial)
		setPartial(ctx, op.plan, in.Missing)
	}
}

// setPartial sets PartialHeader to the missing calls in plan order.
func setPartial(ctx *fasthttp.RequestCtx, p *fanout.Plan, missing []compose.Missing) {
	var buf [128]byte
	b := buf[:0]
	for _, c := range p.Calls() {
		if !slices.ContainsFunc(missing, func(m compose.Missing) bool { return m.Call == c.Spec.Name }) {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, c.Spec.Name...)
	}
	ctx.Response.Header.SetBytesV(PartialHeader, b)
}

// usable reports whether a call's answer can be used: a 2xx with a body.
// A 204 says there is nothing, which for a call whose body the gateway
// needs is as good as a failure.
func usable(out *fanout.Outcome) bool {
	return out.OK() && out.Status != fasthttp.StatusNoContent
}

// notFound reports whether a call was answered 404.
func notFound(out *fanout.Outcome) bool {
	return out.Err == nil && out.Status == fasthttp.StatusNotFound
}

// writeTiming sets the Server-Timing header of a request whose plan ran,
// or that was hidden, once its handler has answered, so that "total"
// includes the composition: one entry per call of the plan and the total,
// formatted into the request state's buffer. serve calls it, and nothing
// else: every answer after a run carries it, but that of a client gone,
// which nobody reads. A hidden request (a project the token does not
// see), and the 404 of the primary call of an operation scoped by it (a
// resource that does not exist), get the total only: which calls ran, and
// for how long, must not tell the two apart.
func writeTiming(r *request) {
	if (r.res == nil && !r.hidden) || r.st.left.Load() {
		return
	}
	st, op := r.st, r.op
	if r.hidden || op.scope == scopePrimary && notFound(&r.res.Outcomes[op.primary]) {
		st.buf = appendTotal(st.buf[:0], time.Since(r.start))
	} else {
		st.buf = appendTiming(st.buf[:0], op.plan, r.res, r.offset, time.Since(r.start))
	}
	r.ctx.Response.Header.SetCanonical(serverTimingKey, st.buf)
}

// serverTimingKey is the Server-Timing header's name as fasthttp writes
// it, set without normalising it again.
var serverTimingKey = []byte("Server-Timing")

// missing describes an optional call that did not deliver, for the page,
// and logs its cause.
func (s *Server) missing(r *request, c fanout.CallSpec, out *fanout.Outcome) compose.Missing {
	kind := outcomeKind(out)
	s.logCall(r, c, kind, out.Status, out.Err)
	return compose.Missing{Call: c.Name, Status: out.Status, Kind: string(kind), Detail: kind.Detail(out.Status)}
}

// outcomeKind classes a call that did not deliver. An answer the engine
// refused is malformed; so is a call left unsent because a field of its
// dependency could not fill its path, which blames that body.
func outcomeKind(out *fanout.Outcome) backend.Kind {
	var de *fanout.DependencyError
	switch {
	case errors.Is(out.Err, fanout.ErrField), errors.Is(out.Err, fanout.ErrMalformed):
		return backend.KindMalformed
	case errors.As(out.Err, &de) && de.Err == nil:
		return backend.KindBadStatus
	case out.Err != nil:
		return backend.KindOf(out.Err)
	}
	return backend.KindBadStatus
}

// failure finds the failed required call that explains the request's
// failure, the primary first, and returns its problem. Optional calls never
// fail the request, except that a required call's body with a field that
// cannot fill a dependent's path is that required call's failure, whether
// the dependent is optional or not. Nor do the calls that the engine
// cancelled because a required one failed (fanout.ErrAborted): that one is
// the cause. Nor does the 404 of a call that allows one (allow_not_found):
// its handler renders the part as not there yet.
func (s *Server) failure(r *request) (problem.Problem, bool) {
	op, res := r.op, r.res
	calls := op.plan.Calls()
	check := func(i int) (problem.Problem, bool) {
		c := calls[i].Spec
		out := &res.Outcomes[i]
		if c.Optional || usable(out) || errors.Is(out.Err, fanout.ErrDependency) || errors.Is(out.Err, fanout.ErrAborted) ||
			(c.AllowNotFound && notFound(out)) {
			return problem.Problem{}, false
		}
		p, kind := s.callProblem(r, i, out, i == op.primary)
		s.metrics.Error(kind)
		return p, true
	}
	if p, failed := check(op.primary); failed {
		return p, true
	}
	for _, c := range calls {
		if p, failed := check(c.Index); failed {
			return p, true
		}
	}
	// A call left unsent: a required dependency answered 2xx but without a
	// usable field for it, or a required call's optional dependency failed.
	for _, c := range calls {
		out := &res.Outcomes[c.Index]
		de, ok := errors.AsType[*fanout.DependencyError](out.Err)
		if !ok || errors.Is(out.Err, fanout.ErrAborted) {
			continue
		}
		owner := op.plan.Index(de.Call)
		field := de.Field != "" && owner >= 0 && !calls[owner].Spec.Optional
		if c.Spec.Optional && !field {
			continue
		}
		s.metrics.Error(metrics.KindBadGateway)
		s.logCall(r, c.Spec, outcomeKind(out), 0, out.Err)
		if field {
			p := callProblem(calls[owner].Spec, problem.TypeBadGateway, fasthttp.StatusBadGateway, backend.KindMalformed, 0)
			p.Detail = fmt.Sprintf("call %q: malformed body: field %q cannot fill the path of call %q", de.Call, de.Field, c.Spec.Name)
			return p, true
		}
		p := problem.New(problem.TypeBadGateway, fasthttp.StatusBadGateway,
			fmt.Sprintf("call %q was not made: call %q did not deliver", c.Spec.Name, de.Call))
		p.Call, p.Kind = de.Call, string(outcomeKind(&res.Outcomes[owner]))
		return p, true
	}
	return problem.Problem{}, false
}

// callProblem maps one failed call to the public status by its kind: a
// missing primary resource is 404; a create the backend refuses as invalid
// (400), conflicting (409) or unprocessable (422) passes that status on,
// with the fields a 400 or 422 names that are fit to pass on; a
// timeout is 504; no free connection (the call was never sent) 503;
// anything else, including any other status a backend answers, 502. The
// problem names the call and the kind; the cause goes to the log.
func (s *Server) callProblem(r *request, i int, out *fanout.Outcome, primary bool) (problem.Problem, string) {
	c := r.op.plan.Calls()[i].Spec
	kind := outcomeKind(out)
	var cause error = out.Err
	if out.Err == nil {
		cause = fmt.Errorf("status %d: %s", out.Status, backendMessage(out.Body))
	}
	s.logCall(r, c, kind, out.Status, cause)
	create := primary && c.Method == fasthttp.MethodPost
	switch {
	case kind == backend.KindTimeout:
		return callProblem(c, problem.TypeGatewayTimeout, fasthttp.StatusGatewayTimeout, kind, 0), metrics.KindTimeout
	case kind == backend.KindUnavailable:
		return callProblem(c, problem.TypeUnavailable, fasthttp.StatusServiceUnavailable, kind, 0), metrics.KindUnavailable
	case kind == backend.KindCircuitOpen:
		// The call's own Refuser refused it during the run.
		if rs := r.op.refusers; rs != nil && len(rs[i]) > 0 {
			r.ctx.Response.Header.Set("Retry-After", rs[i][0].RetryAfter())
		}
		return callProblem(c, problem.TypeUnavailable, fasthttp.StatusServiceUnavailable, kind, 0), metrics.KindUnavailable
	case out.Err != nil:
		return callProblem(c, problem.TypeBadGateway, fasthttp.StatusBadGateway, kind, 0), metrics.KindBadGateway
	case primary && !create && out.Status == fasthttp.StatusNotFound:
		p := problem.New(problem.TypeNotFound, fasthttp.StatusNotFound, fmt.Sprintf("the %s does not exist", c.Name))
		p.Call = c.Name
		return p, metrics.KindNotFound
	case create && (out.Status == fasthttp.StatusBadRequest || out.Status == fasthttp.StatusConflict ||
		out.Status == fasthttp.StatusUnprocessableEntity):
		typ := problem.TypeInvalidRequest
		switch out.Status {
		case fasthttp.StatusConflict:
			typ = problem.TypeConflict
		case fasthttp.StatusUnprocessableEntity:
			typ = problem.TypeUnprocessable
		}
		p := problem.New(typ, out.Status, fmt.Sprintf("call %q: the backend refused the request (%d)", c.Name, out.Status))
		p.Call = c.Name
		if out.Status != fasthttp.StatusConflict {
			p.InvalidParams = refusedParams(r.op.doc.Route().Operation, out.Body)
		}
		return p, metrics.KindInvalidRequest
	}
	return callProblem(c, problem.TypeBadGateway, fasthttp.StatusBadGateway, kind, out.Status), metrics.KindBadGateway
}

// callProblem is the public problem of a failed call: it names the call and
// the kind, nothing else of what the backend did.
func callProblem(c fanout.CallSpec, typ string, status int, kind backend.Kind, backendStatus int) problem.Problem {
	p := problem.New(typ, status, fmt.Sprintf("call %q: %s", c.Name, kind.Detail(backendStatus)))
	p.Call, p.Kind = c.Name, string(kind)
	return p
}

// logCall logs the full cause of a failed call with the request's id, the
// one the client got in X-Request-Id.
func (s *Server) logCall(r *request, c fanout.CallSpec, kind backend.Kind, status int, cause error) {
	s.log.Warn("backend call failed",
		"request_id", string(r.ctx.Response.Header.Peek(backend.RequestIDHeader)),
		"operation", r.op.doc.ID, "call", c.Name, "backend", c.Backend,
		"kind", string(kind), "status", status, "error", cause)
}

// backendMessage is the "error" of a backend's JSON error body, or a
// prefix of the body, for the log.
func backendMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if fanout.CheckJSON(body) == nil && json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

// appendTiming appends the Server-Timing value: one entry per call in plan
// order, "name;dur=MS;start=MS" with start from the request's start, then
// "total;dur=MS".
func appendTiming(b []byte, p *fanout.Plan, res *fanout.Result, offset, total time.Duration) []byte {
	for _, c := range p.Calls() {
		out := &res.Outcomes[c.Index]
		b = appendEntry(b, c.Spec.Name, out.Duration, offset+out.Start)
		if out.Via != fanout.ViaCall {
			// How a policy answered: a duplicate won, a shared call, the cache.
			b = append(b, `;desc="`...)
			b = append(b, out.Via.String()...)
			b = append(b, '"')
		}
		b = append(b, ", "...)
	}
	return appendTotal(b, total)
}

func appendEntry(b []byte, name string, dur, start time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	b = appendMillis(b, dur)
	b = append(b, ";start="...)
	return appendMillis(b, start)
}

func appendTotal(b []byte, total time.Duration) []byte {
	b = append(b, "total;dur="...)
	return appendMillis(b, total)
}

// appendMillis appends d in milliseconds with two decimals, rounded to
// the nearest 10 us, in integers: strconv's float formatting took a page
// about 0.3 % of its CPU for the nine figures of its Server-Timing.
func appendMillis(b []byte, d time.Duration) []byte {
	const unit = 10 * time.Microsecond
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	n := int64((d + unit/2) / unit)
	b = strconv.AppendInt(b, n/100, 10)
	cents := n % 100
	return append(b, '.', byte('0'+cents/10), byte('0'+cents%10))
}
