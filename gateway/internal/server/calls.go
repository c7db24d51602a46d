package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/compose"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// state is the scratch space of one fanned-out request, recycled.
type state struct {
	params params
	buf    []byte // Server-Timing, then the composed body
}

var states = sync.Pool{New: func() any { return &state{buf: make([]byte, 0, 4096)} }}

// execute runs the operation's plan for one request. The caller releases
// the Result, then the Exchange behind d, in that order. A client that goes
// away meanwhile cancels the run's context (disconnect.go), so that the
// calls not sent yet never are; a plan of one call has nothing to spare and
// is not watched.
func (s *Server) execute(ctx *fasthttp.RequestCtx, o *operation, start time.Time, st *state, d fanout.Doer) (*fanout.Result, time.Duration) {
	st.params.fill(ctx, o.op)
	c, cancel := context.WithDeadline(context.Background(), start.Add(s.deadline))
	defer cancel()
	if len(o.plan.Calls()) > 1 {
		// Deferred, so that even a panic ends the watch before fasthttp
		// reads from the connection again.
		defer watchClient(ctx, cancel).stop()
	}
	offset := time.Since(start)
	res := s.exec.Execute(c, o.plan, &st.params, d)
	for i := range res.Outcomes {
		if out := &res.Outcomes[i]; out.Sent {
			o.calls[i].Observe(out.Duration, out.OK())
		}
	}
	return res, offset
}

// proxy answers with the primary call's body as the backend sent it: the
// gateway checks that it is JSON but does not decode it.
func (s *Server) proxy(ctx *fasthttp.RequestCtx, o *operation, start time.Time) {
	st := states.Get().(*state)
	defer states.Put(st)
	ex := s.backends.Exchange()
	defer ex.Release()
	res, offset := s.execute(ctx, o, start, st, ex)
	defer res.Release()

	writeTiming(ctx, st, o, res, offset, start)
	if p, failed := s.failure(o, res); failed {
		problem.Write(ctx, p)
		return
	}
	out := &res.Outcomes[o.primary]
	if fastjson.ValidateBytes(out.Body) != nil {
		s.writeCallProblem(ctx, o.plan.Calls()[o.primary].Spec, fasthttp.StatusBadGateway, problem.TypeBadGateway,
			metrics.KindBadGateway, "answered a body that is not valid JSON")
		return
	}
	ctx.SetStatusCode(out.Status)
	ctx.SetContentType("application/json")
	ctx.SetBody(out.Body)
}

// create forwards the validated body to the primary call's backend. The
// call goes through the executor like any other, so the mode applies to it
// (a pool slot, the blocking lock); the Doer adds the body, which the
// engine's calls do not carry.
func (s *Server) create(ctx *fasthttp.RequestCtx, o *operation, start time.Time) {
	st := states.Get().(*state)
	defer states.Put(st)
	ex := s.backends.Exchange()
	defer ex.Release()
	body := ctx.PostBody()
	withBody := fanout.DoerFunc(func(c context.Context, backend, method, path string) (int, []byte, error) {
		return ex.DoBody(c, backend, method, path, "application/json", body)
	})
	res, offset := s.execute(ctx, o, start, st, withBody)
	defer res.Release()

	writeTiming(ctx, st, o, res, offset, start)
	if p, failed := s.failure(o, res); failed {
		problem.Write(ctx, p)
		return
	}
	out := &res.Outcomes[o.primary]
	var created struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(out.Body, &created) != nil {
		s.writeCallProblem(ctx, o.plan.Calls()[o.primary].Spec, fasthttp.StatusBadGateway, problem.TypeBadGateway,
			metrics.KindBadGateway, "answered a body that is not valid JSON")
		return
	}
	if id, err := idText(created.ID); err == nil {
		ctx.Response.Header.Set("Location", "/v2/experiments/"+id)
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.SetContentType("application/json")
	ctx.SetBody(out.Body)
}

// idText turns a JSON id, string or number, into its text.
func idText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// results composes the results page from the four calls.
func (s *Server) results(ctx *fasthttp.RequestCtx, o *operation, start time.Time) {
	st := states.Get().(*state)
	defer states.Put(st)
	ex := s.backends.Exchange()
	defer ex.Release()
	res, offset := s.execute(ctx, o, start, st, ex)
	defer res.Release()

	if p, failed := s.failure(o, res); failed {
		writeTiming(ctx, st, o, res, offset, start)
		problem.Write(ctx, p)
		return
	}
	var in compose.Input
	for _, c := range o.plan.Calls() {
		out := &res.Outcomes[c.Index]
		var body []byte
		if out.OK() {
			body = out.Body
		} else {
			in.Missing = append(in.Missing, missing(c.Spec.Name, out))
		}
		switch c.Spec.Name {
		case "experiment":
			in.Experiment = body
		case "layer":
			in.Layer = body
		case "settings":
			in.Settings = body
		case "results":
			in.Results = body
		}
	}
	var err error
	st.buf, err = compose.ResultsPage(st.buf[:0], &in)
	if err != nil {
		var pe *compose.PartError
		name := "experiment"
		if errors.As(err, &pe) {
			name = pe.Part
		}
		call := o.plan.Calls()[o.plan.Index(name)].Spec
		s.writeCallProblem(ctx, call, fasthttp.StatusBadGateway, problem.TypeBadGateway, metrics.KindBadGateway, err.Error())
		return
	}
	if len(in.Missing) > 0 {
		s.metrics.Error(metrics.KindPartial)
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(st.buf)
	// The timing goes last so that "total" includes the composition.
	writeTiming(ctx, st, o, res, offset, start)
}

// writeTiming sets the Server-Timing header: one entry per call of the
// plan and the total so far, formatted into the request state's buffer.
func writeTiming(ctx *fasthttp.RequestCtx, st *state, o *operation, res *fanout.Result, offset time.Duration, start time.Time) {
	st.buf = appendTiming(st.buf[:0], o.plan, res, offset, time.Since(start))
	ctx.Response.Header.SetBytesV("Server-Timing", st.buf)
}

func missing(name string, out *fanout.Outcome) compose.Missing {
	m := compose.Missing{Call: name, Status: out.Status}
	if out.Err != nil {
		m.Detail = out.Err.Error()
	} else {
		m.Detail = "answered status " + strconv.Itoa(out.Status)
	}
	return m
}

// failure finds the failed required call that explains the request's
// failure, the primary first, and returns its problem. Optional calls never
// fail the request, and neither do the calls that the engine cancelled
// because a required one failed (fanout.ErrAborted): that one is the cause.
func (s *Server) failure(o *operation, res *fanout.Result) (problem.Problem, bool) {
	calls := o.plan.Calls()
	check := func(i int) (problem.Problem, bool) {
		c := calls[i].Spec
		out := &res.Outcomes[i]
		if c.Optional || out.OK() || errors.Is(out.Err, fanout.ErrDependency) || errors.Is(out.Err, fanout.ErrAborted) {
			return problem.Problem{}, false
		}
		p, kind := s.callProblem(c, out, i == o.primary)
		s.metrics.Error(kind)
		return p, true
	}
	if p, failed := check(o.primary); failed {
		return p, true
	}
	for _, c := range calls {
		if p, failed := check(c.Index); failed {
			return p, true
		}
	}
	// A required call left unsent: its dependency answered 2xx but without
	// the field the call needs, or an optional dependency failed.
	for _, c := range calls {
		out := &res.Outcomes[c.Index]
		var de *fanout.DependencyError
		if c.Spec.Optional || !errors.As(out.Err, &de) || errors.Is(out.Err, fanout.ErrAborted) {
			continue
		}
		s.metrics.Error(metrics.KindBadGateway)
		p := problem.New(problem.TypeBadGateway, fasthttp.StatusBadGateway,
			fmt.Sprintf("call %q was not made: %v", c.Spec.Name, out.Err))
		p.Call = de.Call
		return p, true
	}
	return problem.Problem{}, false
}

// callProblem maps one failed call to the public status: a missing primary
// resource is 404, a timeout 504, no free connection 503, anything else 502.
func (s *Server) callProblem(c fanout.CallSpec, out *fanout.Outcome, primary bool) (problem.Problem, string) {
	var p problem.Problem
	kind := metrics.KindBadGateway
	switch {
	case out.Err != nil && (errors.Is(out.Err, backend.ErrTimeout) || errors.Is(out.Err, context.DeadlineExceeded)):
		kind = metrics.KindTimeout
		p = problem.New(problem.TypeGatewayTimeout, fasthttp.StatusGatewayTimeout,
			fmt.Sprintf("call %q to %s did not answer in time: %v", c.Name, c.Backend, out.Err))
	case out.Err != nil && errors.Is(out.Err, backend.ErrUnavailable):
		kind = metrics.KindUnavailable
		p = problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			fmt.Sprintf("call %q to %s found no free connection: %v", c.Name, c.Backend, out.Err))
	case out.Err != nil:
		p = problem.New(problem.TypeBadGateway, fasthttp.StatusBadGateway,
			fmt.Sprintf("call %q to %s failed: %v", c.Name, c.Backend, out.Err))
	case primary && out.Status == fasthttp.StatusNotFound:
		kind = metrics.KindNotFound
		p = problem.New(problem.TypeNotFound, fasthttp.StatusNotFound,
			fmt.Sprintf("the %s does not exist (%s answered 404)", c.Name, c.Backend))
	case primary && c.Method == fasthttp.MethodPost && out.Status >= 400 && out.Status < 500:
		kind = metrics.KindInvalidRequest
		p = problem.New(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
			fmt.Sprintf("%s rejected the request (%d): %s", c.Backend, out.Status, backendMessage(out.Body)))
	default:
		p = problem.New(problem.TypeBadGateway, fasthttp.StatusBadGateway,
			fmt.Sprintf("call %q to %s answered status %d", c.Name, c.Backend, out.Status))
	}
	p.Call = c.Name
	return p, kind
}

// backendMessage is the "error" of a backend's JSON error body, or a
// prefix of the body.
func backendMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return string(body)
}

func (s *Server) writeCallProblem(ctx *fasthttp.RequestCtx, c fanout.CallSpec, status int, typ, kind, detail string) {
	s.metrics.Error(kind)
	p := problem.New(typ, status, fmt.Sprintf("call %q to %s: %s", c.Name, c.Backend, detail))
	p.Call = c.Name
	problem.Write(ctx, p)
}

// appendTiming appends the Server-Timing value: one entry per call in plan
// order, "name;dur=MS;start=MS" with start from the request's start, then
// "total;dur=MS".
func appendTiming(b []byte, p *fanout.Plan, res *fanout.Result, offset, total time.Duration) []byte {
	for _, c := range p.Calls() {
		out := &res.Outcomes[c.Index]
		b = appendEntry(b, c.Spec.Name, out.Duration, offset+out.Start)
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

func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 2, 64)
}
