package server

import (
	"fmt"
	"strconv"
	"strings"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/compose"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/spec"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fasthttp"
)

// handler handles one request of an operation that passed the checks of
// serve; its answer goes into r.ctx, and serve writes its Server-Timing.
type handler struct {
	handle func(s *Server, r *request)
	// fanout: the operation must carry x-fanout.
	fanout bool
	// validate: the request is validated against the document first.
	validate bool
	// page, if set, binds the page the handler composes to the
	// operation's plan, by the names of its calls (compose.BindResults):
	// New fails if the plan lacks a call the page reads. A handler
	// without a page renders no call's 404, so its plan may have no call
	// that allows one (allow_not_found).
	page func(*fanout.Plan) (*compose.Results, error)
	// creates: the handler answers 201 with the Location of what it
	// created, which the document's links must say how to build
	// (location.go).
	creates bool
}

// handlers maps every operationId of the document to its handler. The
// router is built from the document; New fails if the two disagree. The
// routes the gateway serves outside the document are ownRoutes.
var handlers = map[string]handler{
	"getProject":           {handle: (*Server).proxy, fanout: true, validate: true},
	"getExperiment":        {handle: (*Server).proxy, fanout: true, validate: true},
	"listExperiments":      {handle: (*Server).list, fanout: true, validate: true},
	"createExperiment":     {handle: (*Server).idempotentCreate, fanout: true, validate: true, creates: true},
	"getExperimentResults": {handle: (*Server).composed, fanout: true, validate: true, page: compose.BindResults},
}

// operation is an operation of the document bound to its handler, with
// everything prepared at start-up.
type operation struct {
	doc      *spec.Operation
	handle   func(s *Server, r *request)
	validate bool
	route    *metrics.Route

	// cacheable: a GET, whose 200 gets caching headers, an ETag, 304s and
	// compression (finishGET, transfer.go).
	cacheable bool

	// passes are the 2xx statuses the document declares for the
	// operation: the only ones a proxied answer may have.
	passes []pass
	// location builds the Location of what the operation creates, from
	// the document; nil if it creates nothing the document links to.
	location *location

	plan    *fanout.Plan
	primary int             // index of the primary call in plan
	calls   []*metrics.Call // by call index
	// page is the page the handler composes from the calls; nil if it
	// composes none.
	page *compose.Results
	// policies are the calls' policies by call index, outermost first;
	// nil if no call has one.
	policies [][]fanout.Policy
	// protected: the operation needs a token.
	protected bool
	// scope says how the operation finds the project a token must see.
	scope scope
}

func (s *Server) newOperation(doc *spec.Operation, h handler) (*operation, error) {
	op := &operation{
		doc:      doc,
		handle:   h.handle,
		validate: h.validate,
		route:    s.metrics.Route(doc.Method, doc.Path),
		// The document (/openapi.yaml, /openapi.json) and the docs
		// stay open; the admin listener is another port.
		protected: strings.HasPrefix(doc.Path, protectedPrefix),
	}
	op.cacheable = doc.Method == fasthttp.MethodGet
	op.passes = passes(doc.Route().Operation)
	var err error
	if op.location, err = newLocation(s.spec, doc); err != nil {
		return nil, fmt.Errorf("new server: operation %s: %w", doc.ID, err)
	}
	if h.creates && op.location == nil {
		return nil, fmt.Errorf("new server: operation %s: its handler creates a resource, yet its 201 links to none", doc.ID)
	}
	if h.fanout != (doc.Fanout != nil) {
		if h.fanout {
			return nil, fmt.Errorf("new server: operation %s: its handler needs an %s extension", doc.ID, spec.ExtensionFanout)
		}
		return nil, fmt.Errorf("new server: operation %s: its handler makes no backend calls, yet it has %s", doc.ID, spec.ExtensionFanout)
	}
	if doc.Fanout == nil {
		op.scope = scopeOf(op)
		return op, nil
	}
	plan := doc.Plan
	known := map[string]bool{}
	for _, n := range s.backends.Names() {
		known[n] = true
	}
	for _, c := range plan.Calls() {
		if !known[c.Spec.Backend] {
			return nil, fmt.Errorf("new server: operation %s: call %q: backend %q is not configured (have %s)",
				doc.ID, c.Spec.Name, c.Spec.Backend, strings.Join(s.backends.Names(), ", "))
		}
	}
	if h.page != nil {
		if op.page, err = h.page(plan); err != nil {
			return nil, fmt.Errorf("new server: operation %s: %w", doc.ID, err)
		}
	} else {
		for _, c := range plan.Calls() {
			if c.Spec.AllowNotFound {
				return nil, fmt.Errorf("new server: operation %s: call %q: its handler cannot render a 404, yet it has allow_not_found", doc.ID, c.Spec.Name)
			}
		}
	}
	op.plan = plan
	op.primary = plan.Index(doc.Fanout.Primary)
	op.calls = make([]*metrics.Call, len(plan.Calls()))
	for _, c := range plan.Calls() {
		op.calls[c.Index] = s.metrics.Call(doc.ID, c.Spec.Name, c.Spec.Backend)
	}
	if op.policies, err = s.policies.For(doc.ID, plan.Calls()); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	op.scope = scopeOf(op)
	return op, nil
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
func (op *operation) pass(status int) (pass, bool) {
	for _, p := range op.passes {
		if p.status == status {
			return p, true
		}
	}
	return pass{}, false
}
