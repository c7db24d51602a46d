package spec

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"fanout/gateway/internal/problem"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Input is what request validation reads of one request. The server fills
// only what the operation declares (see QueryNames, HeaderNames, HasBody),
// so a request without query parameters costs no url.Values.
type Input struct {
	PathParams map[string]string
	Query      url.Values
	Header     http.Header
	Body       []byte
}

// Reset empties the Input for reuse, keeping its maps.
func (in *Input) Reset() {
	clear(in.PathParams)
	clear(in.Query)
	clear(in.Header)
	in.Body = nil
}

// validator validates requests of one operation. The kin-openapi options and
// route are prepared once; the per-request structures come from a pool.
type validator struct {
	opts *openapi3filter.Options
	// route is the operation's route without security requirements.
	route   *routers.Route
	scratch sync.Pool
	// quick is the operation's quick check, nil if it has none (see
	// quickCheck).
	quick []quickParam
}

type scratch struct {
	req   http.Request
	url   url.URL
	input openapi3filter.RequestValidationInput
	body  bytes.Reader
}

// emptyQuery stands for the query of an operation without query parameters;
// kin-openapi never reads it then, but must not find a nil map either.
var emptyQuery = url.Values{}

func newValidator(op *Operation) validator {
	// Authentication is the server's job, not request validation's: an empty
	// list of security requirements makes kin-openapi skip its own check,
	// which would otherwise run for every request (the document requires
	// bearerAuth globally) and read every request body a second time.
	route := *op.route
	unsecured := *route.Operation
	unsecured.Security = &openapi3.SecurityRequirements{}
	route.Operation = &unsecured
	return validator{
		quick: quickCheck(op.route.PathItem, op.route.Operation),
		route: &route,
		opts: &openapi3filter.Options{
			MultiError: true,
			// Defaults are applied by the gateway when it expands a call's
			// path; letting kin-openapi set them would re-encode the query
			// of every request.
			SkipSettingDefaults: true,
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		},
	}
}

// PathNames returns the names of the operation's path parameters.
func (o *Operation) PathNames() []string { return o.path }

// QueryNames returns the names of the operation's query parameters.
func (o *Operation) QueryNames() []string { return o.query }

// HeaderNames returns the names of the operation's header parameters.
func (o *Operation) HeaderNames() []string { return o.header }

// Validate checks one request against the operation: path, query and header
// parameters and the body. It returns nil if the request is valid, else one
// entry per invalid parameter naming it and the reason. It is safe for
// concurrent use.
func (o *Operation) Validate(ctx context.Context, in *Input) []problem.InvalidParam {
	v := &o.validator
	if v.quick != nil && quickValid(v.quick, in) {
		return nil
	}
	s, _ := v.scratch.Get().(*scratch)
	if s == nil {
		s = &scratch{}
	}
	defer func() {
		s.req = http.Request{}
		s.input = openapi3filter.RequestValidationInput{}
		v.scratch.Put(s)
	}()
	s.url = url.URL{Path: o.Path}
	s.req.Method = o.Method
	s.req.URL = &s.url
	s.req.Header = in.Header
	if s.req.Header == nil {
		s.req.Header = http.Header{}
	}
	if o.hasBody {
		s.body.Reset(in.Body)
		s.req.Body = io.NopCloser(&s.body)
		s.req.ContentLength = int64(len(in.Body))
	} else {
		s.req.Body = http.NoBody
	}
	query := in.Query
	if query == nil {
		query = emptyQuery
	}
	s.input = openapi3filter.RequestValidationInput{
		Request:     &s.req,
		PathParams:  in.PathParams,
		QueryParams: query,
		Route:       v.route,
		Options:     v.opts,
	}
	err := openapi3filter.ValidateRequest(ctx, &s.input)
	if err == nil {
		return nil
	}
	return invalidParams(err, nil)
}

// invalidParams turns kin-openapi's errors into one entry per problem.
// It switches on the concrete types: errors.As would look through a
// RequestError into the MultiError it wraps and lose the parameter's name.
func invalidParams(err error, out []problem.InvalidParam) []problem.InvalidParam {
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, x := range e {
			out = invalidParams(x, out)
		}
		return out
	case *openapi3filter.RequestError:
		switch {
		case e.Parameter != nil:
			return append(out, problem.InvalidParam{Name: e.Parameter.Name, In: e.Parameter.In, Reason: reason(e)})
		case e.RequestBody != nil:
			return appendBodyErrors(out, e)
		}
	}
	return append(out, problem.InvalidParam{Name: "request", In: "body", Reason: err.Error()})
}

func appendBodyErrors(out []problem.InvalidParam, re *openapi3filter.RequestError) []problem.InvalidParam {
	if me, ok := re.Err.(openapi3.MultiError); ok {
		for _, e := range me {
			out = appendSchemaError(out, e)
		}
		return out
	}
	if re.Err != nil {
		var se *openapi3.SchemaError
		if errors.As(re.Err, &se) {
			return appendSchemaError(out, se)
		}
	}
	return append(out, problem.InvalidParam{Name: "body", In: "body", Reason: reason(re)})
}

func appendSchemaError(out []problem.InvalidParam, err error) []problem.InvalidParam {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return append(out, problem.InvalidParam{Name: "body", In: "body", Reason: err.Error()})
	}
	path := se.JSONPointer()
	// An unknown property is reported at its object; name the property.
	if strings.HasSuffix(se.Reason, " is unsupported") {
		if _, rest, ok := strings.Cut(se.Reason, `"`); ok {
			if prop, _, ok := strings.Cut(rest, `"`); ok {
				path = append(path, prop)
			}
		}
	}
	name := "body"
	if len(path) > 0 {
		name = fieldPath(path)
	}
	return append(out, problem.InvalidParam{Name: name, In: "body", Reason: schemaReason(se)})
}

// fieldPath writes the segments of a JSON pointer into a body as the
// field path problems name: properties joined with dots, array indices in
// brackets, e.g. "variations[1].weight". A segment of digits is taken for
// an index: the request bodies of this API have no property so named.
func fieldPath(segments []string) string {
	var b strings.Builder
	for i, seg := range segments {
		switch {
		case i > 0 && seg != "" && strings.Trim(seg, "0123456789") == "":
			b.WriteString("[" + seg + "]")
		case i > 0:
			b.WriteString("." + seg)
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

// reason is the cause of a RequestError without kin-openapi's prefix that
// repeats the parameter's name.
func reason(re *openapi3filter.RequestError) string {
	if me, ok := re.Err.(openapi3.MultiError); ok && len(me) > 0 {
		reasons := make([]string, 0, len(me))
		for _, e := range me {
			var se *openapi3.SchemaError
			if errors.As(e, &se) {
				reasons = append(reasons, schemaReason(se))
			} else {
				reasons = append(reasons, e.Error())
			}
		}
		return strings.Join(reasons, "; ")
	}
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return schemaReason(se)
	}
	if re.Err != nil {
		var pe *openapi3filter.ParseError
		if errors.As(re.Err, &pe) {
			return pe.Error()
		}
		return re.Err.Error()
	}
	if re.Reason != "" {
		return re.Reason
	}
	return "invalid"
}

// schemaReason is a schema error's reason without the schema and value
// that kin-openapi's Error adds (they would echo the client's input back).
func schemaReason(se *openapi3.SchemaError) string {
	if se.Reason != "" {
		return se.Reason
	}
	if se.SchemaField != "" {
		return "does not match the schema's " + se.SchemaField
	}
	return "does not match the schema"
}
