package server

import (
	"fmt"
	"sort"
	"strings"

	"fanout/gateway/internal/spec"

	"github.com/valyala/fasthttp"
)

// bodyPointer is how a link of the document takes a value from the body
// of the answer it is on (OpenAPI 3.0, Runtime Expressions).
const bodyPointer = "$response.body#/"

// location builds the Location of a resource an operation creates from the
// document: its 201 answer links to the GET operation of the new resource,
// whose path template has one parameter, filled from a top-level field of
// the created body. The gateway thus knows no resource's path by heart.
type location struct {
	// prefix and suffix are the linked operation's path template around
	// its parameter: "/v2/experiments/" and "".
	prefix, suffix string
	// field is the created body's field that fills the parameter: "id".
	field string
}

// newLocation reads the link of doc's 201 answer; nil if doc declares no
// 201 or its 201 no link. A 201 that declares a Location header must link
// to the resource it locates, and a link must be one the gateway can
// follow: to a GET of the document with one path parameter, filled from a
// field of the body.
func newLocation(sp *spec.Spec, doc *spec.Operation) (*location, error) {
	rs := doc.Route().Operation.Responses
	if rs == nil {
		return nil, nil
	}
	created := rs.Status(fasthttp.StatusCreated)
	if created == nil || created.Value == nil {
		return nil, nil
	}
	_, hasHeader := created.Value.Headers["Location"]
	if len(created.Value.Links) == 0 {
		if hasHeader {
			return nil, fmt.Errorf("its 201 declares a Location header, yet no link to the resource it creates")
		}
		return nil, nil
	}
	names := make([]string, 0, len(created.Value.Links))
	for name := range created.Value.Links {
		names = append(names, name)
	}
	sort.Strings(names)
	var bad []string
	for _, name := range names {
		ref := created.Value.Links[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		l, err := follow(sp, ref.Value.OperationID, ref.Value.Parameters)
		if err == nil {
			return l, nil
		}
		bad = append(bad, fmt.Sprintf("link %q: %v", name, err))
	}
	return nil, fmt.Errorf("its 201 links to no resource the gateway can locate: %s", strings.Join(bad, "; "))
}

// follow makes the location of a link to the operation target whose path
// parameters are filled by params.
func follow(sp *spec.Spec, target string, params map[string]any) (*location, error) {
	to := sp.Operation(target)
	if to == nil || to.Method != fasthttp.MethodGet {
		return nil, fmt.Errorf("operation %q is not a GET of the document", target)
	}
	names := to.PathNames()
	if len(names) != 1 || len(params) != 1 {
		return nil, fmt.Errorf("operation %q: a Location fills one path parameter, from one field", target)
	}
	expr, _ := params[names[0]].(string)
	field, ok := strings.CutPrefix(expr, bodyPointer)
	if !ok || field == "" || strings.Contains(field, "/") {
		return nil, fmt.Errorf("parameter %q: %q is not a top-level field of the body (%sfield)", names[0], expr, bodyPointer)
	}
	prefix, suffix, _ := strings.Cut(to.Path, "{"+names[0]+"}")
	return &location{prefix: prefix, suffix: suffix, field: field}, nil
}

// appendPath appends the created resource's path, whose parameter is id:
// id has been checked against the document's Id schema by then.
func (l *location) appendPath(b []byte, id string) []byte {
	b = append(b, l.prefix...)
	b = append(b, id...)
	return append(b, l.suffix...)
}
