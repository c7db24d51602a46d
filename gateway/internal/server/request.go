package server

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/spec"
	"fanout/gateway/internal/tracing"

	"github.com/valyala/fasthttp"
)

// inputs recycles validation inputs and their maps.
var inputs = sync.Pool{New: func() any {
	return &spec.Input{PathParams: map[string]string{}}
}}

// validate checks the request against the operation. It reads from the
// fasthttp request only what the operation declares: the router has already
// found the operation, so no second routing happens here.
func validate(ctx *fasthttp.RequestCtx, op *spec.Operation) []problem.InvalidParam {
	in := inputs.Get().(*spec.Input)
	defer func() {
		in.Reset()
		inputs.Put(in)
	}()
	for _, name := range op.PathNames() {
		if v, ok := ctx.UserValue(name).(string); ok {
			in.PathParams[name] = v
		}
	}
	if len(op.QueryNames()) > 0 {
		if in.Query == nil {
			in.Query = url.Values{}
		}
		for k, v := range ctx.QueryArgs().All() {
			key := string(k)
			in.Query[key] = append(in.Query[key], string(v))
		}
	}
	if len(op.HeaderNames()) > 0 || op.HasBody() {
		if in.Header == nil {
			in.Header = http.Header{}
		}
		if ct := ctx.Request.Header.ContentType(); len(ct) > 0 {
			in.Header.Set("Content-Type", string(ct))
		}
		for _, name := range op.HeaderNames() {
			if v := ctx.Request.Header.Peek(name); v != nil {
				in.Header.Set(name, string(v))
			}
		}
	}
	if op.HasBody() {
		in.Body = ctx.PostBody()
	}
	bad := op.Validate(context.Background(), in)
	// Which of a repeated parameter's values the client meant is anyone's
	// guess; kin-openapi checks the first, so refuse rather than guess.
	for _, name := range op.QueryNames() {
		if len(in.Query[name]) > 1 && !isArrayQuery(op, name) {
			bad = append(bad, problem.InvalidParam{Name: name, In: "query", Reason: "given more than once"})
		}
	}
	// JSON is UTF-8 (RFC 8259); encoding/json would silently turn invalid
	// bytes into U+FFFD while the backend got the raw ones.
	if op.HasBody() && len(in.Body) > 0 {
		if !utf8.Valid(in.Body) {
			bad = append(bad, problem.InvalidParam{Name: "body", In: "body", Reason: "not valid UTF-8"})
		} else if reason := strictJSON(in.Body); reason != "" {
			bad = append(bad, problem.InvalidParam{Name: "body", In: "body", Reason: reason})
		}
	}
	if op.HasBody() {
		if reason := badCharset(ctx.Request.Header.ContentType()); reason != "" {
			bad = append(bad, problem.InvalidParam{Name: "Content-Type", In: "header", Reason: reason})
		}
	}
	return bad
}

// unsupportedMediaType says why the request's Content-Type is not one the
// operation's body accepts, or "" if it is one. Only a request with a body
// is asked.
func unsupportedMediaType(ctx *fasthttp.RequestCtx, op *spec.Operation) string {
	body := op.Route().Operation.RequestBody
	if body == nil || body.Value == nil {
		return ""
	}
	ct := string(ctx.Request.Header.ContentType())
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for accepted := range body.Value.Content {
			if accepted == mt || accepted == "*/*" ||
				strings.HasSuffix(accepted, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(accepted, "*")) {
				return ""
			}
		}
	}
	accepted := make([]string, 0, len(body.Value.Content))
	for a := range body.Value.Content {
		accepted = append(accepted, a)
	}
	sort.Strings(accepted)
	if ct == "" {
		return "the request has no Content-Type; accepted: " + strings.Join(accepted, ", ")
	}
	return fmt.Sprintf("Content-Type %q is not accepted; accepted: %s", ct, strings.Join(accepted, ", "))
}

// isArrayQuery reports whether the operation declares the query parameter
// as an array, which a client may repeat.
func isArrayQuery(op *spec.Operation, name string) bool {
	for _, ref := range op.Route().Operation.Parameters {
		p := ref.Value
		if p != nil && p.In == "query" && p.Name == name {
			return p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is("array")
		}
	}
	return false
}

// maxParams is the most parameters an operation's calls may use.
const maxParams = 8

// params are the values of an operation's parameters for one request,
// copied out of the fasthttp request before the fan-out starts so the
// calls' goroutines never touch the RequestCtx. Defaults fill absent query
// parameters.
type params struct {
	n      int
	names  [maxParams]string
	values [maxParams]string
	// token and scoped are what Check checks: the answer of call scoped
	// (-1: none) against the token's projects.
	token  *auth.Token
	scoped int
	// trace is the request's trace when it is recorded, for the calls'
	// spans (observe.go); nil otherwise.
	trace *tracing.Request
}

// Param implements fanout.Params.
func (p *params) Param(name string) (string, bool) {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return p.values[i], true
		}
	}
	return "", false
}

func (p *params) fill(ctx *fasthttp.RequestCtx, op *spec.Operation) {
	p.n = 0
	for _, name := range op.PathNames() {
		if v, ok := ctx.UserValue(name).(string); ok {
			p.add(name, v)
		}
	}
	if len(op.QueryNames()) == 0 {
		return
	}
	args := ctx.QueryArgs()
	for _, name := range op.QueryNames() {
		if v := args.Peek(name); len(v) > 0 {
			p.add(name, string(v))
		} else if d, ok := op.Defaults[name]; ok {
			p.add(name, d)
		}
	}
}

func (p *params) add(name, value string) {
	if p.n < maxParams {
		p.names[p.n], p.values[p.n] = name, value
		p.n++
	}
}
