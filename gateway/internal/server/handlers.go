package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/spec"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fasthttp"
)

// handler handles one validated request of an operation; start is when the
// request arrived.
type handler struct {
	handle func(s *Server, ctx *fasthttp.RequestCtx, o *operation, start time.Time)
	// fanout: the operation must carry x-fanout.
	fanout bool
	// validate: the request is validated against the document first.
	validate bool
	// needs names the calls the handler reads by name.
	needs []string
	// notYet names the call whose 404 the handler can render as a part
	// that does not exist yet: the only call of the plan that may have
	// allow_not_found.
	notYet string
}

// handlers maps every operationId of the document to its handler. The
// router is built from the document; New fails if the two disagree. The
// routes the gateway serves outside the document are ownRoutes.
var handlers = map[string]handler{
	"getProject":       {handle: (*Server).proxy, fanout: true, validate: true},
	"getExperiment":    {handle: (*Server).proxy, fanout: true, validate: true},
	"listExperiments":  {handle: (*Server).list, fanout: true, validate: true},
	"createExperiment": {handle: (*Server).idempotentCreate, fanout: true, validate: true},
	"getExperimentResults": {handle: (*Server).results, fanout: true, validate: true,
		needs: []string{"experiment", "layer", "settings", "results"}, notYet: "results"},
}

// operation is an operation of the document bound to its handler, with
// everything prepared at start-up.
type operation struct {
	op       *spec.Operation
	handle   func(s *Server, ctx *fasthttp.RequestCtx, o *operation, start time.Time)
	validate bool
	route    *metrics.Route

	// represent: a GET, whose 200 gets caching headers, an ETag, 304s and
	// compression (transfer.go).
	represent bool

	// passes are the 2xx statuses the document declares for the
	// operation: the only ones a proxied answer may have.
	passes []pass

	plan    *fanout.Plan
	primary int             // index of the primary call in plan
	calls   []*metrics.Call // by call index
	// policies are the calls' policies by call index, outermost first;
	// nil if no call has one.
	policies [][]fanout.Policy
	// protected: the operation needs a token.
	protected bool
	// scope says how the operation finds the project a token must see.
	scope scope
}

func (s *Server) newOperation(op *spec.Operation, h handler) (*operation, error) {
	o := &operation{
		op:       op,
		handle:   h.handle,
		validate: h.validate,
		route:    s.metrics.Route(op.Method, op.Path),
		// The document (/openapi.yaml, /openapi.json) and the docs
		// stay open; the admin listener is another port.
		protected: strings.HasPrefix(op.Path, protectedPrefix),
	}
	o.represent = op.Method == fasthttp.MethodGet
	o.passes = passes(op.Route().Operation)
	if h.fanout != (op.Fanout != nil) {
		if h.fanout {
			return nil, fmt.Errorf("new server: operation %s: its handler needs an %s extension", op.ID, spec.ExtensionFanout)
		}
		return nil, fmt.Errorf("new server: operation %s: its handler makes no backend calls, yet it has %s", op.ID, spec.ExtensionFanout)
	}
	if op.Fanout == nil {
		o.scope = scopeOf(o)
		return o, nil
	}
	plan := op.Plan
	known := map[string]bool{}
	for _, n := range s.backends.Names() {
		known[n] = true
	}
	for _, c := range plan.Calls() {
		if !known[c.Spec.Backend] {
			return nil, fmt.Errorf("new server: operation %s: call %q: backend %q is not configured (have %s)",
				op.ID, c.Spec.Name, c.Spec.Backend, strings.Join(s.backends.Names(), ", "))
		}
	}
	for _, name := range h.needs {
		if plan.Index(name) < 0 {
			return nil, fmt.Errorf("new server: operation %s: its handler needs a call named %q", op.ID, name)
		}
	}
	for _, c := range plan.Calls() {
		if c.Spec.AllowNotFound && c.Spec.Name != h.notYet {
			return nil, fmt.Errorf("new server: operation %s: call %q: its handler cannot render a 404, yet it has allow_not_found", op.ID, c.Spec.Name)
		}
	}
	o.plan = plan
	o.primary = plan.Index(op.Fanout.Primary)
	o.calls = make([]*metrics.Call, len(plan.Calls()))
	for _, c := range plan.Calls() {
		o.calls[c.Index] = s.metrics.Call(op.ID, c.Spec.Name, c.Spec.Backend)
	}
	var err error
	if o.policies, err = s.policies.For(op.ID, plan.Calls()); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	o.scope = scopeOf(o)
	return o, nil
}

// pass is a success status the document declares for an operation, and
// whether its JSON body must be an object.
type pass struct {
	status int
	object bool
}

// passes lists the 2xx statuses op declares, in no particular order.
func passes(op *openapi3.Operation) []pass {
	var ps []pass
	if op.Responses == nil {
		return nil
	}
	for code, ref := range op.Responses.Map() {
		status, err := strconv.Atoi(code)
		if err != nil || status < 200 || status > 299 || ref.Value == nil {
			continue
		}
		p := pass{status: status}
		if mt := ref.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
			p.object = mt.Schema.Value.Type.Is(openapi3.TypeObject)
		}
		ps = append(ps, p)
	}
	return ps
}

// pass returns the declared success status of the operation that status
// is, and false if the document declares no such status.
func (o *operation) pass(status int) (pass, bool) {
	for _, p := range o.passes {
		if p.status == status {
			return p, true
		}
	}
	return pass{}, false
}
