// Package spec loads the gateway's OpenAPI document once at start-up and
// turns it into what the server needs per operation: the route, the request
// validation prepared with kin-openapi, the fan-out calls of the
// operation's x-fanout extension and their compiled plan.
package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"fanout/gateway/fanout"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// ExtensionFanout is the name of the operation extension that lists an
// operation's backend calls.
const ExtensionFanout = "x-fanout"

// Spec is a loaded, validated OpenAPI document. It is read-only after Load
// and safe for concurrent use.
type Spec struct {
	yaml       []byte
	json       []byte
	public     publicView
	operations []*Operation
	id         fanout.FieldRule
	hasID      bool
}

// Operation is one method on one path of the document.
type Operation struct {
	ID     string // operationId
	Method string // upper case, e.g. "GET"
	Path   string // the document's path template, e.g. "/v2/experiments/{experiment_id}"

	// Params lists the names of the operation's parameters (path and query),
	// the names a fan-out path template may use.
	Params []string
	// Defaults holds the default of each query parameter that has one, as
	// the text a client would have sent.
	Defaults map[string]string
	// Fanout is the operation's x-fanout extension, nil if it has none.
	Fanout *Fanout
	// Plan is Fanout's calls compiled into the graph the executor runs,
	// nil if the operation has no x-fanout. It is compiled once, here, so
	// that the server and the bench's limits read the very same plan.
	Plan *fanout.Plan

	route     *routers.Route
	path      []string // names of path parameters
	query     []string // names of query parameters
	header    []string // names of header parameters
	hasBody   bool
	validator validator
}

// Fanout is the x-fanout extension of an operation: the backend calls it
// makes and which of them is the primary resource (whose 404 is the
// operation's 404).
type Fanout struct {
	Primary string
	Calls   []fanout.CallSpec
}

// fanoutDoc is x-fanout as written in the document.
type fanoutDoc struct {
	Primary string    `json:"primary"`
	Calls   []callDoc `json:"calls"`
}

type callDoc struct {
	Name     string `json:"name"`
	Backend  string `json:"backend"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Timeout  string `json:"timeout"`
	Optional bool   `json:"optional"`
	// AllowNotFound: the call's 404 says its part does not exist yet,
	// which the operation's handler renders (fanout.CallSpec).
	AllowNotFound bool `json:"allow_not_found"`
	// Fields names, per field reference of Path ("experiment.layer_id"),
	// the component schema the field must satisfy; DefaultFieldSchema if
	// absent.
	Fields map[string]string `json:"fields"`
	// policies are the call's policy declarations (hedge, retry, ...),
	// by x-fanout key, as written: the policy registry reads them (see
	// policy.go).
	policies map[string]json.RawMessage
}

// Load parses and validates an OpenAPI 3.0 document (YAML or JSON), reads
// every operation's x-fanout extension and prepares request validation. An
// operation without operationId, a duplicate operationId or a malformed
// x-fanout is an error naming the operation.
func Load(data []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render openapi document as JSON: %w", err)
	}
	public, err := newPublicView(data)
	if err != nil {
		return nil, err
	}
	s := &Spec{yaml: data, json: js, public: public}
	// rules caches each component schema's rule across the operations; the
	// Id rule, built here for ID, is its first entry rather than built again.
	rules := map[string]fanout.FieldRule{}
	if rule, err := schemaRule(doc, DefaultFieldSchema); err == nil {
		s.id, s.hasID = rule, true
		rules[DefaultFieldSchema] = rule
	}

	seen := map[string]string{}
	paths := doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		methods := item.Operations()
		names := make([]string, 0, len(methods))
		for m := range methods {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, method := range names {
			op := methods[method]
			if op.OperationID == "" {
				return nil, fmt.Errorf("operation %s %s: no operationId", method, path)
			}
			if prev, dup := seen[op.OperationID]; dup {
				return nil, fmt.Errorf("operation %s %s: operationId %q already used by %s", method, path, op.OperationID, prev)
			}
			seen[op.OperationID] = method + " " + path
			o, err := newOperation(doc, path, item, method, op, rules)
			if err != nil {
				return nil, fmt.Errorf("operation %s: %w", op.OperationID, err)
			}
			s.operations = append(s.operations, o)
		}
	}
	required := resourceFields(s.operations)
	for _, o := range s.operations {
		if o.Fanout == nil {
			continue
		}
		checkAnswers(o.Fanout, required)
		if o.Plan, err = fanout.Compile(o.ID, o.Fanout.Calls, o.Params); err != nil {
			return nil, fmt.Errorf("operation %s: %w", o.ID, err)
		}
	}
	return s, nil
}

// resourceFields maps each backend resource that an operation serves as
// its backend sent it (an operation of one call, the proxies) to the
// fields its success response's schema requires: the document describes
// that resource, so that any call of any operation that fetches it (the
// same backend, method and path template) can check its answers against
// it. The key is resourceKey's.
func resourceFields(ops []*Operation) map[string][]string {
	fields := map[string][]string{}
	for _, o := range ops {
		if o.Fanout == nil || len(o.Fanout.Calls) != 1 {
			continue
		}
		for code, ref := range o.route.Operation.Responses.Map() {
			if len(code) != 3 || code[0] != '2' || ref.Value == nil {
				continue
			}
			mt := ref.Value.Content.Get("application/json")
			if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
				continue
			}
			c := o.Fanout.Calls[0]
			fields[resourceKey(c)] = mt.Schema.Value.Required
		}
	}
	return fields
}

func resourceKey(c fanout.CallSpec) string {
	m := c.Method
	if m == "" {
		m = "GET"
	}
	return c.Backend + " " + strings.ToUpper(m) + " " + c.Path
}

// checkAnswers has every call of f check that its answers are for the
// resource its path asked for (fanout.CallSpec.Identify) and, for a single
// resource (a path without a query) that the document describes, that they
// have the fields the document requires. A page of a collection is not
// held to its schema's required fields: the gateway completes it
// (total_pages, paging.go).
func checkAnswers(f *Fanout, required map[string][]string) {
	for i := range f.Calls {
		c := &f.Calls[i]
		c.Identify = true
		if !strings.Contains(c.Path, "?") {
			c.Required = required[resourceKey(*c)]
		}
	}
}

func newOperation(doc *openapi3.T, path string, item *openapi3.PathItem, method string, op *openapi3.Operation, rules map[string]fanout.FieldRule) (*Operation, error) {
	o := &Operation{
		ID:       op.OperationID,
		Method:   strings.ToUpper(method),
		Path:     path,
		Defaults: map[string]string{},
		route: &routers.Route{
			Spec:      doc,
			Path:      path,
			PathItem:  item,
			Method:    strings.ToUpper(method),
			Operation: op,
		},
		hasBody: op.RequestBody != nil,
	}
	params := slices.Concat(item.Parameters, op.Parameters)
	for _, ref := range params {
		p := ref.Value
		if p == nil {
			continue
		}
		switch p.In {
		case openapi3.ParameterInPath, openapi3.ParameterInQuery:
			if !slices.Contains(o.Params, p.Name) {
				o.Params = append(o.Params, p.Name)
			}
		case openapi3.ParameterInHeader:
			o.header = append(o.header, p.Name)
		}
		if p.In == openapi3.ParameterInPath {
			o.path = append(o.path, p.Name)
		}
		if p.In == openapi3.ParameterInQuery {
			o.query = append(o.query, p.Name)
			if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Default != nil {
				o.Defaults[p.Name] = fmt.Sprint(p.Schema.Value.Default)
			}
		}
	}
	if raw, ok := op.Extensions[ExtensionFanout]; ok {
		f, err := decodeFanout(doc, raw, rules)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ExtensionFanout, err)
		}
		// The plan is compiled once every operation is read (Load): a call
		// checks its answers against the resource another one describes.
		o.Fanout = f
	}
	o.validator = newValidator(o)
	return o, nil
}

func decodeFanout(doc *openapi3.T, raw any, rules map[string]fanout.FieldRule) (*Fanout, error) {
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var d fanoutDoc
	if err := strictDecode(b, &d); err != nil {
		return nil, blameCall(b, err)
	}
	if len(d.Calls) == 0 {
		return nil, fmt.Errorf("no calls")
	}
	f := &Fanout{Primary: d.Primary}
	if f.Primary == "" {
		f.Primary = d.Calls[0].Name
	}
	found := false
	for i, c := range d.Calls {
		var timeout time.Duration
		if c.Timeout != "" {
			timeout, err = time.ParseDuration(c.Timeout)
			if err != nil || timeout < 0 {
				return nil, fmt.Errorf("calls[%d] %q: timeout %q: not a positive duration", i, c.Name, c.Timeout)
			}
		}
		if c.Name == f.Primary {
			found = true
			if c.Optional {
				return nil, fmt.Errorf("calls[%d] %q: the primary call cannot be optional", i, c.Name)
			}
			if c.AllowNotFound {
				return nil, fmt.Errorf("calls[%d] %q: the primary call's 404 is the request's: it cannot allow_not_found", i, c.Name)
			}
		}
		fields, err := fieldRules(doc, c, rules)
		if err != nil {
			return nil, fmt.Errorf("calls[%d] %q: %w", i, c.Name, err)
		}
		call := fanout.CallSpec{
			Fields:        fields,
			Name:          c.Name,
			Backend:       c.Backend,
			Method:        strings.ToUpper(c.Method),
			Path:          c.Path,
			Timeout:       timeout,
			Optional:      c.Optional,
			Primary:       c.Name == f.Primary,
			AllowNotFound: c.AllowNotFound,
		}
		if err := c.decodePolicies(&call); err != nil {
			return nil, fmt.Errorf("calls[%d] %q: %w", i, c.Name, err)
		}
		f.Calls = append(f.Calls, call)
	}
	if !found {
		return nil, fmt.Errorf("primary %q is not a call", f.Primary)
	}
	return f, nil
}

// strictDecode decodes the JSON b into v, refusing unknown keys.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Operations returns every operation, sorted by path then method.
func (s *Spec) Operations() []*Operation { return s.operations }

// Operation returns the operation with the given operationId, or nil.
func (s *Spec) Operation(id string) *Operation {
	for _, o := range s.operations {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// ID returns the rule of the document's Id schema (DefaultFieldSchema),
// for ids a backend returns that the gateway passes on, e.g. in Location;
// false if the document has no usable Id schema.
func (s *Spec) ID() (fanout.FieldRule, bool) { return s.id, s.hasID }

// YAML returns the document as loaded.
func (s *Spec) YAML() []byte { return s.yaml }

// JSON returns the document rendered as JSON.
func (s *Spec) JSON() []byte { return s.json }

// PublicYAML returns the public view of the document, the one the gateway
// serves: the document as written without its specification extensions
// (x-fanout and every other x- field). It is rendered once, by Load.
func (s *Spec) PublicYAML() []byte { return s.public.yaml }

// PublicJSON returns the public view of the document rendered as JSON.
func (s *Spec) PublicJSON() []byte { return s.public.json }

// Route returns the kin-openapi route of the operation, for response
// validation in tests and tools.
func (o *Operation) Route() *routers.Route { return o.route }

// HasBody reports whether the operation takes a request body.
func (o *Operation) HasBody() bool { return o.hasBody }
