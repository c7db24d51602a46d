package server

import (
	"fmt"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/spec"

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
}

// handlers maps every operationId of the document to its handler. The
// router is built from the document; New fails if the two disagree.
var handlers = map[string]handler{
	"getProject":       {handle: (*Server).proxy, fanout: true, validate: true},
	"getExperiment":    {handle: (*Server).proxy, fanout: true, validate: true},
	"listExperiments":  {handle: (*Server).proxy, fanout: true, validate: true},
	"createExperiment": {handle: (*Server).idempotentCreate, fanout: true, validate: true},
	"getExperimentResults": {handle: (*Server).results, fanout: true, validate: true,
		needs: []string{"experiment", "layer", "settings", "results"}},
	"getOpenAPIYAML": {handle: (*Server).openAPIYAML},
	"getOpenAPIJSON": {handle: (*Server).openAPIJSON},
}

// operation is an operation of the document bound to its handler, with
// everything prepared at start-up.
type operation struct {
	op       *spec.Operation
	handle   func(s *Server, ctx *fasthttp.RequestCtx, o *operation, start time.Time)
	validate bool
	route    *metrics.Route

	plan    *fanout.Plan
	primary int             // index of the primary call in plan
	calls   []*metrics.Call // by call index
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
	o.plan = plan
	o.primary = plan.Index(op.Fanout.Primary)
	o.calls = make([]*metrics.Call, len(plan.Calls()))
	for _, c := range plan.Calls() {
		o.calls[c.Index] = s.metrics.Call(op.ID, c.Spec.Name, c.Spec.Backend)
	}
	o.scope = scopeOf(o)
	return o, nil
}

func (s *Server) openAPIYAML(ctx *fasthttp.RequestCtx, _ *operation, _ time.Time) {
	ctx.SetContentType("application/yaml")
	ctx.SetBody(s.spec.YAML())
}

func (s *Server) openAPIJSON(ctx *fasthttp.RequestCtx, _ *operation, _ time.Time) {
	ctx.SetContentType("application/json")
	ctx.SetBody(s.spec.JSON())
}
