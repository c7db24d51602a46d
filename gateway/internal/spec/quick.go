package spec

import (
	"net/http"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// quickParam is a parameter whose value the quick check can tell valid
// without kin-openapi: a plain string in the path, the query or a header.
type quickParam struct {
	name, in string
	required bool
	lengths
	match func(string) bool // nil: no pattern
}

// quickCheck compiles the quick check of an operation: nil unless it has
// no body and every parameter is a plain string (see plainString), which
// is what the results page and most GETs declare. Validate asks it first:
// a request it finds valid is one kin-openapi finds valid, and skips it,
// its allocations and its reflection; any other request, an invalid one
// included, goes to kin-openapi, whose messages the clients see.
func quickCheck(item *openapi3.PathItem, op *openapi3.Operation) []quickParam {
	if op.RequestBody != nil {
		return nil
	}
	var out []quickParam
	for _, ref := range slices.Concat(item.Parameters, op.Parameters) {
		p := ref.Value
		if p == nil || !plainParam(p) {
			return nil
		}
		s := p.Schema.Value
		q := quickParam{name: p.Name, in: p.In, required: p.Required, lengths: lengthsOf(s)}
		if p.In == openapi3.ParameterInHeader {
			q.name = http.CanonicalHeaderKey(p.Name) // as Input.Header holds it
		}
		if s.Pattern != "" {
			match, err := compilePattern(s.Pattern)
			if err != nil {
				return nil // kin-openapi reports the pattern
			}
			q.match = match
		}
		out = append(out, q)
	}
	if out == nil {
		out = []quickParam{} // no parameter: every request is valid
	}
	return out
}

// plainParam reports whether p is a path, query or header parameter in
// the default style whose schema is a plain string.
func plainParam(p *openapi3.Parameter) bool {
	switch p.In {
	case openapi3.ParameterInPath, openapi3.ParameterInQuery, openapi3.ParameterInHeader:
	default:
		return false
	}
	return p.Style == "" && p.Explode == nil && !p.AllowEmptyValue && !p.AllowReserved &&
		p.Content == nil && p.Schema != nil && p.Schema.Value != nil && plainString(p.Schema.Value)
}

// plainString reports whether s is a string schema constrained by its
// length and pattern only. It compares s with a schema built from those
// fields and the ones that say nothing of validity, so that any other
// constraint (an enum, a format, a composition, nullable), present or
// added to kin-openapi later, sends the operation to kin-openapi instead.
func plainString(s *openapi3.Schema) bool {
	if !s.Type.Is(openapi3.TypeString) {
		return false
	}
	plain := openapi3.Schema{
		Extensions: s.Extensions, Type: s.Type, Title: s.Title, Description: s.Description,
		Example: s.Example, Deprecated: s.Deprecated, ExternalDocs: s.ExternalDocs, Default: s.Default,
		MinLength: s.MinLength, MaxLength: s.MaxLength, Pattern: s.Pattern,
	}
	return reflect.DeepEqual(plain, *s)
}

// quickValid reports whether the quick check params finds in valid; false also when it
// cannot tell.
func quickValid(params []quickParam, in *Input) bool {
	for i := range params {
		q := &params[i]
		var v string
		var ok bool
		switch q.in {
		case openapi3.ParameterInPath:
			v, ok = in.PathParams[q.name]
		case openapi3.ParameterInQuery:
			// An empty value is kin-openapi's to judge (allowEmptyValue).
			if vs := in.Query[q.name]; len(vs) > 0 && vs[0] != "" {
				v, ok = vs[0], true
			} else if len(vs) > 0 {
				return false
			}
		case openapi3.ParameterInHeader:
			if vs := in.Header[q.name]; len(vs) > 0 {
				v, ok = vs[0], true
			}
		}
		if !ok {
			if q.required {
				return false
			}
			continue
		}
		if q.fit(v) != 0 || !utf8.ValidString(v) {
			return false
		}
		if q.match != nil && !q.match(v) {
			return false
		}
	}
	return true
}
