package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"fanout/mockbackends/dataset"
	"fanout/mockbackends/model"
)

// policy is the compiled model of one service: what the hot path reads, in
// one atomically replaced value, so a config change never locks a request.
type policy struct {
	svc    model.Service // as set, for GET /_admin/config
	routes []routePolicy // index: position in the service's routes
	// slots holds one token per worker when max_in_flight caps the
	// service; nil means no cap. A new config gets new slots: requests
	// already holding old ones finish under the old cap.
	slots      chan struct{}
	queueLimit int64
	waiting    atomic.Int64
}

type routePolicy struct {
	latency model.Latency
	faults  model.Faults
	faulty  bool // faults.Total() > 0
	// nested is the body of the nested fault, built once per size when
	// the model is set (routes of one size share it), so that a fault
	// costs its write, not megabytes of allocation per request.
	nested []byte
}

func compile(service string, s model.Service) *policy {
	p := &policy{svc: s, queueLimit: int64(s.QueueLimit)}
	nested := map[int][]byte{}
	for _, r := range model.ServiceRoutes(service) {
		f := s.RouteFaults(r)
		rp := routePolicy{latency: s.RouteLatency(service, r), faults: f, faulty: f.Total() > 0}
		if f.Nested > 0 {
			n := f.NestedBytes()
			if nested[n] == nil {
				nested[n] = nestedBody(n)
			}
			rp.nested = nested[n]
		}
		p.routes = append(p.routes, rp)
	}
	if s.MaxInFlight > 0 {
		p.slots = make(chan struct{}, s.MaxInFlight)
	}
	return p
}

// service is one backend service on its own listener.
type service struct {
	name     string
	resource string // what its single-resource routes read, for their 404 messages
	routes   []string
	data     *dataset.Dataset
	store    *store // experiments only
	log      *slog.Logger

	sleep  sleeper
	policy atomic.Pointer[policy]
	stats  serviceStats

	seed uint64
	seq  atomic.Uint64
	rngs sync.Pool

	srv     *fasthttp.Server
	ln      net.Listener
	closing chan struct{}

	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
	conns    map[net.Conn]struct{} // open connections, for Close
	hangs    sync.WaitGroup
}

// connState tracks open connections (once per connection, not per
// request), so that Close can end idle ones at once: fasthttp's Shutdown
// treats a connection that never sent a request as busy for 5 seconds.
func (s *service) connState(c net.Conn, state fasthttp.ConnState) {
	switch state {
	case fasthttp.StateNew:
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.forget(s.conns, c)
	}
}

// forget removes c from one of the service's sets of connections.
func (s *service) forget(set map[net.Conn]struct{}, c net.Conn) {
	s.mu.Lock()
	delete(set, c)
	s.mu.Unlock()
}

// closeAll closes every connection of one of the service's sets.
func (s *service) closeAll(set map[net.Conn]struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range set {
		// A hijacked connection's Close is a no-op while fasthttp owns
		// it; close the connection underneath.
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			_ = u.UnsafeConn().Close()
		} else {
			_ = c.Close()
		}
	}
}

// rng is a pooled generator, reseeded per request from the seed and the
// request's sequence number so a run can be replayed.
type rng struct {
	pcg rand.PCG
	r   *rand.Rand
}

func (s *service) rand() *rng { return s.randFor(s.seq.Add(1)) }

// randFor returns the generator of the service's request number n (from
// 1): a replay of the draws of any request.
func (s *service) randFor(n uint64) *rng {
	g, _ := s.rngs.Get().(*rng)
	if g == nil {
		g = &rng{}
		g.r = rand.New(&g.pcg)
	}
	g.pcg.Seed(s.seed, splitmix(n))
	return g
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var (
	contentJSON  = []byte("application/json")
	adminPrefix  = []byte("/_admin/")
	faultBody    = []byte(`{"error":"injected fault: internal error","code":"internal"}`)
	rejectedBody = []byte(`{"error":"too many requests waiting for a worker","code":"unavailable"}`)
	closingBody  = []byte(`{"error":"server shutting down","code":"unavailable"}`)
)

// handle serves one request. Admin paths skip every model; service routes
// wait for a worker (with max_in_flight), then the sampled latency, then
// answer or fail as the fault draw says.
func (s *service) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if bytes.HasPrefix(path, adminPrefix) {
		s.admin(ctx)
		return
	}
	m := routeOf(s.name, ctx.Method(), path)
	if m.route == noRoute {
		s.stats.unrouted.Add(1)
		if m.status == 405 {
			ctx.Response.Header.Set("Allow", m.allow)
			writeError(ctx, 405, "method_not_allowed", fmt.Sprintf("method %s not allowed on %s", ctx.Method(), path))
			return
		}
		writeError(ctx, 404, "not_found", fmt.Sprintf("no route %s %s", ctx.Method(), path))
		return
	}
	s.logTrace(ctx)
	p := s.policy.Load()
	rc := &s.stats.routes[m.route]
	rc.requests.Add(1)
	s.stats.total.requests.Add(1)

	if p.slots != nil && !s.acquire(ctx, p, rc) {
		return
	}
	start := time.Now()
	rc.enter()
	s.stats.total.enter()

	g := s.rand()
	rp := &p.routes[m.route]
	delay := rp.latency.Sample(g.r)
	fault := model.FaultNone
	if rp.faulty {
		fault = rp.faults.Pick(g.r.Float64())
	}
	s.rngs.Put(g)

	if delay > 0 {
		// A client that goes away during the delay is served no more: a
		// gateway that gave the call up has closed the connection.
		w := watchClient(ctx.Conn())
		s.sleep.sleepUntil(start.Add(delay), w.done())
		if w.stop() {
			s.cancelled(ctx, p, rc)
			return
		}
	}
	if fault != model.FaultNone {
		rc.errs[faultErr(fault)].Add(1)
		s.stats.total.errs[faultErr(fault)].Add(1)
	}
	switch fault {
	case model.FaultError:
		ctx.SetStatusCode(500)
		ctx.SetContentTypeBytes(contentJSON)
		ctx.Response.SetBodyRaw(faultBody)
	case model.FaultHang:
		s.hang(ctx, p, rc)
		return // the hijacked connection finishes the request
	default:
		s.serve(ctx, m.route, m.id, rc)
		if fault == model.FaultReset {
			s.reset(ctx, p, rc)
			return
		}
		switch fault {
		case model.FaultMalformed:
			b := ctx.Response.Body()
			ctx.SetStatusCode(200)
			ctx.SetContentTypeBytes(contentJSON)
			// Any proper prefix of a JSON object is invalid JSON.
			ctx.Response.SetBody(append([]byte(nil), b[:len(b)/2]...))
		case model.FaultNested:
			ctx.SetStatusCode(200)
			ctx.SetContentTypeBytes(contentJSON)
			ctx.Response.SetBodyRaw(rp.nested)
		case model.FaultStray:
			s.finish(p, rc)
			s.stray(ctx)
			return
		}
	}
	s.finish(p, rc)
}

// logTrace logs, at debug level, the W3C traceparent a request carries
// (the gateway sends one on every call of a traced request), with its
// request id, so that a trace can be followed into the backend. Below
// debug it costs a header lookup and a level check.
func (s *service) logTrace(ctx *fasthttp.RequestCtx) {
	tp := ctx.Request.Header.Peek("traceparent")
	if len(tp) == 0 || !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.Debug("request", "service", s.name, "method", string(ctx.Method()), "path", string(ctx.Path()),
		"request_id", string(ctx.Request.Header.Peek("X-Request-Id")), "traceparent", string(tp),
		"tracestate", string(ctx.Request.Header.Peek("tracestate")))
}

// nestedBody returns n bytes of nested JSON arrays: n/2 "[" then n/2 "]"
// (one space more in the middle when n is odd), valid JSON of depth n/2.
func nestedBody(n int) []byte {
	b := bytes.Repeat([]byte{'['}, n)
	for i := n - n/2; i < n; i++ {
		b[i] = ']'
	}
	if n%2 == 1 {
		b[n/2] = ' '
	}
	return b
}

// stray lets fasthttp send the answer as it stands, then, model.StrayDelay
// later, writes a second answer that nobody asked for on the same
// connection (a copy of the first: the answer a confused backend would
// send again) and closes it. A client that has sent its next request on
// the connection meanwhile reads the stray answer as the answer to it.
// The request itself is finished (counted served, out of in-flight) when
// its answer is sent.
func (s *service) stray(ctx *fasthttp.RequestCtx) {
	status := ctx.Response.StatusCode()
	body := append([]byte(nil), ctx.Response.Body()...)
	head := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		status, fasthttp.StatusMessage(status), len(body))
	// The request is finished once its answer is sent, so Close may close
	// the connection before fasthttp hands it over, and then the hijack
	// handler never runs: the stray is held for Close only once it has
	// the connection (track), never before.
	ctx.Hijack(func(c net.Conn) {
		if !s.track(c, true) {
			return
		}
		defer s.hangs.Done()
		defer s.forget(s.hijacked, c)
		t := time.NewTimer(model.StrayDelay)
		defer t.Stop()
		select {
		case <-t.C:
			_, _ = c.Write(append(head, body...))
		case <-s.closing:
		}
		// Returning closes the connection (fasthttp owns hijacked
		// connections unless told to keep them).
	})
}

// acquire waits for a worker slot. It answers 503 itself (and returns
// false) when the queue is full or the server is closing.
func (s *service) acquire(ctx *fasthttp.RequestCtx, p *policy, rc *counters) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
	}
	if n := p.waiting.Add(1); p.queueLimit > 0 && n > p.queueLimit {
		p.waiting.Add(-1)
		s.reject(ctx, rc, rejectedBody)
		return false
	}
	rc.queued.Add(1)
	s.stats.total.queued.Add(1)
	defer func() {
		p.waiting.Add(-1)
		rc.queued.Add(-1)
		s.stats.total.queued.Add(-1)
	}()
	select {
	case p.slots <- struct{}{}:
		return true
	case <-s.closing:
		s.reject(ctx, rc, closingBody)
		return false
	}
}

func (s *service) reject(ctx *fasthttp.RequestCtx, rc *counters, body []byte) {
	rc.errs[errRejected].Add(1)
	s.stats.total.errs[errRejected].Add(1)
	rc.served.Add(1)
	s.stats.total.served.Add(1)
	ctx.SetStatusCode(503)
	ctx.SetContentTypeBytes(contentJSON)
	ctx.Response.Header.Set("Retry-After", "1")
	ctx.Response.SetBodyRaw(body)
}

func (s *service) finish(p *policy, rc *counters) {
	rc.leave()
	s.stats.total.leave()
	if p.slots != nil {
		<-p.slots
	}
}

// cancelled ends a request whose client has gone: it is counted apart,
// leaves the in-flight gauge at once, and its connection is closed without
// an answer.
func (s *service) cancelled(ctx *fasthttp.RequestCtx, p *policy, rc *counters) {
	rc.errs[errCancelled].Add(1)
	s.stats.total.errs[errCancelled].Add(1)
	s.finish(p, rc)
	ctx.HijackSetNoResponse(true)
	// Returning closes the connection (fasthttp owns hijacked connections
	// unless told to keep them).
	ctx.Hijack(func(net.Conn) {})
}

// hang keeps the connection open without answering until the client gives
// up (closes it) or the service closes.
func (s *service) hang(ctx *fasthttp.RequestCtx, p *policy, rc *counters) {
	s.hangs.Add(1)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer s.hangs.Done()
		defer s.finish(p, rc)
		if !s.track(c, false) {
			return
		}
		defer s.forget(s.hijacked, c)
		_, _ = io.Copy(io.Discard, c)
	})
}

// reset sends the status line, the headers and half of the body that the
// request would have got, then closes the connection: the client sees a
// response cut short.
func (s *service) reset(ctx *fasthttp.RequestCtx, p *policy, rc *counters) {
	body := append([]byte(nil), ctx.Response.Body()...)
	head := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		ctx.Response.StatusCode(), fasthttp.StatusMessage(ctx.Response.StatusCode()), len(body))
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer s.finish(p, rc)
		_, _ = c.Write(append(head, body[:len(body)/2]...))
		// Returning closes the connection (fasthttp owns hijacked
		// connections unless told to keep them).
	})
}

// track records a hijacked connection so Close can end it; it returns false
// when the service is already closing. With hold, the connection is also
// counted in hangs, which Close waits for: under mu, where Close marks the
// service closing, so that no hold starts once Close may be waiting.
func (s *service) track(c net.Conn, hold bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return false
	default:
	}
	s.hijacked[c] = struct{}{}
	if hold {
		s.hangs.Add(1)
	}
	return true
}

// setPolicy validates and installs a service model.
func (s *service) setPolicy(m model.Service) error {
	if err := m.Validate(s.name); err != nil {
		return err
	}
	s.policy.Store(compile(s.name, m.Clone()))
	return nil
}

// errorBody is the JSON error of the backend API.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

func writeError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	writeJSON(ctx, status, errorBody{Error: msg, Code: code})
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"encode response","code":"internal"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBodyRaw(b)
}

// idOf parses the {id} of a request, answering 404 itself when it is not a
// canonical id.
func idOf(ctx *fasthttp.RequestCtx, rc *counters, total *counters, what string, raw []byte) (uint64, bool) {
	id, ok := dataset.ParseID(raw)
	if !ok {
		notFound(ctx, rc, total, what, raw)
	}
	return id, ok
}

func notFound(ctx *fasthttp.RequestCtx, rc, total *counters, what string, raw []byte) {
	rc.errs[errNotFound].Add(1)
	total.errs[errNotFound].Add(1)
	writeError(ctx, 404, "not_found", fmt.Sprintf("%s %s not found", what, strconv.Quote(string(raw))))
}
