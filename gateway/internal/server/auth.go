package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/store"
	"fanout/gateway/internal/transport"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// Headers of authentication and rate limits.
const (
	// Challenge is the WWW-Authenticate value of a 401 (RFC 6750).
	Challenge = `Bearer realm="fanout"`
	// challengeInvalid is the one of a token that is not known.
	challengeInvalid = `Bearer realm="fanout", error="invalid_token"`

	RateLimitLimitHeader     = "RateLimit-Limit"
	RateLimitRemainingHeader = "RateLimit-Remaining"
	RateLimitResetHeader     = "RateLimit-Reset"
)

// protectedPrefix is the part of the API that needs a token; the document
// (/openapi.yaml, /openapi.json) and the docs stay open, and the admin
// listener is for operators on another port.
const protectedPrefix = "/v2/"

// tokenKey is the user value under which serve leaves the request's token
// for the handlers.
const tokenKey = "fanout.token"

// scope is how an operation finds the project it touches, to check it
// against the token's projects.
type scope int

const (
	scopeNone    scope = iota // no project: nothing to check
	scopeParam                // the project_id parameter (path or query)
	scopeBody                 // the project_id of the JSON body
	scopePrimary              // the project_id of the primary call's answer
)

// projectParam is the name of the parameter and field that names a project,
// in the document and in the backends' bodies.
const projectParam = "project_id"

// scopeOf decides, once at start-up, how an operation is scoped: by its
// project_id parameter if it has one, else by the body of a write, else by
// the project of the resource its primary call fetches.
func scopeOf(op *operation) scope {
	switch {
	case !strings.HasPrefix(op.doc.Path, protectedPrefix):
		return scopeNone
	case slices.Contains(op.doc.Params, projectParam):
		return scopeParam
	case op.doc.HasBody():
		return scopeBody
	case op.plan != nil:
		return scopePrimary
	}
	return scopeNone
}

// authenticate checks the bearer token of a request to a protected
// operation, then takes the request from the token's rate limit, and sets
// the RateLimit headers. It answers 401, 429 or 403 itself, and returns nil
// then; a store that fails lets the request through unchecked, or answers
// 503 if rate limits fail closed (storefail.go). Its cost per request is one SHA-256 of
// the presented secret, one map lookup and the limiter.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx, op *operation) *auth.Token {
	t := s.credentials(ctx)
	if t == nil {
		return nil
	}
	d, err := s.store.Allow(context.Background(), t.LimitKey(), t.Rate.Limit, t.Rate.Per)
	switch {
	case err != nil && s.rateLimitFailClosed:
		s.storeUnavailable(ctx, s.storeLogs.limit, err, detailLimitUnchecked)
		return nil
	case err != nil:
		// Fail open (storefail.go): served without a limit, and without
		// RateLimit headers, since there is no decision to report.
		s.storeFailedOpen(ctx, s.storeLogs.limit, metrics.CheckRateLimit, err)
	default:
		setRateLimit(ctx, d)
	}
	if err == nil && !d.Allowed {
		s.metrics.Error(metrics.KindInvalidRequest)
		var buf [20]byte
		ctx.Response.Header.SetBytesV("Retry-After", strconv.AppendInt(buf[:0], seconds(d.RetryAfter), 10))
		problem.Write(ctx, problem.New(problem.TypeRateLimited, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the token's limit of %d requests per %s is spent", t.Rate.Limit, t.Rate.Per)))
		return nil
	}
	if s.refuseReadOnly(ctx, op, t) {
		return nil
	}
	ctx.SetUserValue(tokenKey, t)
	return t
}

// credentials returns the request's token, or answers 401 and returns nil.
func (s *Server) credentials(ctx *fasthttp.RequestCtx) *auth.Token {
	secret, ok := bearer(ctx.Request.Header.Peek("Authorization"))
	if !ok {
		s.unauthorized(ctx, Challenge, "this operation needs an Authorization: Bearer token")
		return nil
	}
	t := s.tokens.Load().Lookup(secret)
	if t == nil {
		s.unauthorized(ctx, challengeInvalid, "the bearer token is not valid")
	}
	return t
}

// refuseReadOnly answers 403 to a read token on an operation that writes,
// and reports whether it did.
func (s *Server) refuseReadOnly(ctx *fasthttp.RequestCtx, op *operation, t *auth.Token) bool {
	if t.Write || op.doc.Method == fasthttp.MethodGet {
		return false
	}
	s.metrics.Error(metrics.KindInvalidRequest)
	problem.Write(ctx, problem.New(problem.TypeForbidden, fasthttp.StatusForbidden, "the bearer token is read-only"))
	return true
}

// refuseUnauthorized answers a request that expects 100-continue with 401
// or 403 before its body is sent, when its token would be refused anyway,
// and reports whether it did. The rate limit waits for the request itself,
// so that it is taken once.
func (s *Server) refuseUnauthorized(ctx *fasthttp.RequestCtx, op *operation) bool {
	if !s.authOn || !op.protected {
		return false
	}
	if t := s.credentials(ctx); t != nil && !s.refuseReadOnly(ctx, op, t) {
		return false
	}
	// As for the other refusals before a body (transport.Bodies.Refuse): the client
	// must read the answer, not a reset.
	ctx.SetConnectionClose()
	transport.LingerOnClose(ctx.Conn())
	return true
}

// bearer returns the credentials of an Authorization: Bearer header; the
// scheme is case-insensitive (RFC 9110, 11.1).
func bearer(h []byte) ([]byte, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(string(h[:len(scheme)]), scheme) {
		return nil, false
	}
	return bytes.TrimSpace(h[len(scheme):]), true
}

func (s *Server) unauthorized(ctx *fasthttp.RequestCtx, challenge, detail string) {
	s.metrics.Error(metrics.KindInvalidRequest)
	ctx.Response.Header.Set("WWW-Authenticate", challenge)
	problem.Write(ctx, problem.New(problem.TypeUnauthorized, fasthttp.StatusUnauthorized, detail))
}

// setRateLimit sets the RateLimit headers of a decision, without
// allocating: they go on every response to an authenticated request.
func setRateLimit(ctx *fasthttp.RequestCtx, d store.Decision) {
	var buf [20]byte
	h := &ctx.Response.Header
	h.SetBytesV(RateLimitLimitHeader, strconv.AppendInt(buf[:0], int64(d.Limit), 10))
	h.SetBytesV(RateLimitRemainingHeader, strconv.AppendInt(buf[:0], int64(d.Remaining), 10))
	reset := d.Reset
	if !d.Allowed {
		reset = d.RetryAfter
	}
	h.SetBytesV(RateLimitResetHeader, strconv.AppendInt(buf[:0], seconds(reset), 10))
}

// seconds rounds d up to whole seconds: a client that waits that long is
// never early.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// requestToken returns the token serve authenticated, nil when
// authentication is off.
func requestToken(ctx *fasthttp.RequestCtx) *auth.Token {
	t, _ := ctx.UserValue(tokenKey).(*auth.Token)
	return t
}

// authorise decides, before any backend call and in one place, whether
// the request's token (t; nil when authentication is off) may see the
// project the request touches. A project named by the request, in its
// project_id parameter or in the body of a create, is checked here: one
// the token does not see is answered 404, as a project that does not
// exist, and authorise returns false, before any call is made. A project
// known only from the answer of the primary call (a read by id) is left
// to the engine: authorise arms the request's Checker (params.Check),
// which refuses that answer as it arrives, and the refusal is answered as
// a resource that does not exist (answered, hide).
func (s *Server) authorise(r *request, t *auth.Token) bool {
	p, op := &r.st.params, r.op
	p.token, p.scoped = t, -1
	if t == nil || t.AllProjects() {
		return true
	}
	switch op.scope {
	case scopePrimary:
		p.scoped = op.primary
	case scopeParam:
		v, ok := r.ctx.UserValue(projectParam).(string)
		if !ok {
			v = string(r.ctx.QueryArgs().Peek(projectParam))
		}
		if id, _ := strconv.Atoi(v); id <= 0 || !t.Sees(int64(id)) {
			s.hide(r)
			return false
		}
	case scopeBody:
		if !sees(t, r.ctx.PostBody()) {
			s.hideProject(r.ctx)
			return false
		}
	}
	return true
}

// sees reports whether the token (nil: authentication off) sees the
// project of a JSON body, which must name one unless the token sees all.
func sees(t *auth.Token, body []byte) bool {
	if t == nil || t.AllProjects() {
		return true
	}
	id := projectOf(body)
	return id > 0 && t.Sees(int64(id))
}

// hideProject answers 404 as for a project that does not exist.
func (s *Server) hideProject(ctx *fasthttp.RequestCtx) {
	s.metrics.Error(metrics.KindNotFound)
	problem.Write(ctx, problem.New(problem.TypeNotFound, fasthttp.StatusNotFound, "the project does not exist"))
}

// errOutOfScope is the Checker's refusal of a primary answer of a project
// the token does not see.
var errOutOfScope = errors.New("the resource is in a project the token does not see")

// Check implements fanout.Checker: for an operation scoped by its primary
// call, the primary's answer must be of a project the request's token
// sees (authorise arms it). The engine runs it as the answer arrives, so
// that a refusal ends the run then, as a 404 of the primary does: no
// dependent call starts, and the calls in flight are cancelled. Another
// project's resource thus costs what a missing one costs, and no call's
// timing tells them apart (writeTiming).
func (p *params) Check(c *fanout.Call, _ int, body []byte) error {
	if c.Index != p.scoped || sees(p.token, body) {
		return nil
	}
	return errOutOfScope
}

// hide answers 404 as callProblem does for a primary resource that does
// not exist, for a project the token does not see.
func (s *Server) hide(r *request) {
	ctx, op := r.ctx, r.op
	r.hidden = true
	s.metrics.Error(metrics.KindNotFound)
	name := op.doc.ID
	if op.plan != nil {
		name = op.plan.Calls()[op.primary].Spec.Name
	}
	p := problem.New(problem.TypeNotFound, fasthttp.StatusNotFound, fmt.Sprintf("the %s does not exist", name))
	p.Call = name
	problem.Write(ctx, p)
}

// parsers parse the bodies whose project_id the scope checks read.
var parsers fastjson.ParserPool

// projectOf returns the project_id of a JSON object, a decimal string (as
// the backends send ids) or an integer, or 0 if it has none.
func projectOf(body []byte) int {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return 0
	}
	x := v.Get(projectParam)
	if x == nil {
		return 0
	}
	switch x.Type() {
	case fastjson.TypeString:
		n, err := strconv.Atoi(string(x.GetStringBytes()))
		if err != nil {
			return 0
		}
		return n
	case fastjson.TypeNumber:
		n, err := x.Int()
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}
