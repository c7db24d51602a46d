package fanout

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// A template is a call's path, precompiled into segments so that expanding it
// per request is a walk over a slice: no parsing, no regexp.
type template struct {
	segs    []segment
	literal string // the whole path when it has no references
	hasRefs bool
	size    int // length of the literal parts, a hint for the buffer
}

type segKind uint8

const (
	segLiteral segKind = iota // text copied as is
	segParam                  // {name}: a request parameter
	segField                  // {call.field}: a field of another call's body
)

type segment struct {
	kind       segKind
	text       string     // segLiteral: the text
	name       string     // segParam: the parameter; segField: the call
	field      string     // segField: the field
	query      bool       // the reference sits after '?': escape as a query value
	call       int        // segField: the call's index, set by Compile
	fieldIndex int        // segField: index in the call's step.fields, set by Compile
	slot       int        // segField: value slot, set by Compile
	rule       *FieldRule // segField: what the value must be; nil: any string or number
}

// parseTemplate splits a path template into literal text and references.
// Syntax: the path starts with '/'; {name} is a request parameter; {call.field}
// a top-level field of another call's JSON body; names are letters, digits,
// '_' and '-'. Literal text is printable ASCII without '#', and '%' starts a
// %XX escape.
func parseTemplate(path string) (template, error) {
	var t template
	if path == "" {
		return t, fmt.Errorf("empty path")
	}
	if path[0] != '/' {
		return t, fmt.Errorf("path must start with '/'")
	}
	query := false
	lit := 0 // start of the pending literal text
	flush := func(end int) {
		if end > lit {
			t.segs = append(t.segs, segment{kind: segLiteral, text: path[lit:end]})
			t.size += end - lit
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '{':
			flush(i)
			end := i + 1
			for end < len(path) && path[end] != '}' {
				if path[end] == '{' {
					return t, fmt.Errorf("'{' inside a reference at offset %d", end)
				}
				end++
			}
			if end == len(path) {
				return t, fmt.Errorf("unclosed '{' at offset %d", i)
			}
			sg, err := parseReference(path[i+1 : end])
			if err != nil {
				return t, fmt.Errorf("reference at offset %d: %w", i, err)
			}
			sg.query = query
			t.segs = append(t.segs, sg)
			t.hasRefs = true
			i = end
			lit = end + 1
		case c == '}':
			return t, fmt.Errorf("'}' without '{' at offset %d", i)
		case c == '?':
			query = true
		case c == '#':
			return t, fmt.Errorf("fragment '#' at offset %d", i)
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return t, fmt.Errorf("'%%' at offset %d does not start a %%XX escape", i)
			}
		case c <= ' ' || c >= utf8.RuneSelf || c == 0x7f:
			return t, fmt.Errorf("byte %#02x at offset %d is not allowed in a path (percent-escape it)", c, i)
		}
	}
	flush(len(path))
	if !t.hasRefs {
		t.literal = path
	}
	return t, nil
}

func parseReference(ref string) (segment, error) {
	if ref == "" {
		return segment{}, fmt.Errorf("empty reference {}")
	}
	dot := -1
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case c == '.':
			if dot >= 0 {
				return segment{}, fmt.Errorf("{%s}: more than one '.' (only top-level fields can be referenced)", ref)
			}
			dot = i
		case !isNameByte(c):
			return segment{}, fmt.Errorf("{%s}: byte %q not allowed in a name", ref, c)
		}
	}
	if dot < 0 {
		return segment{kind: segParam, name: ref}, nil
	}
	if dot == 0 || dot == len(ref)-1 {
		return segment{}, fmt.Errorf("{%s}: want {call.field}", ref)
	}
	return segment{kind: segField, name: ref[:dot], field: ref[dot+1:]}, nil
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// expand writes the path of t into buf (scratch space, often on the caller's
// stack) and returns it as a string: one allocation. Parameters come from params and fields from
// vals; the caller has checked that every referenced field was extracted.
// A template without references costs nothing: its literal is returned.
func (t *template) expand(buf []byte, params Params, vals []value) (string, error) {
	if !t.hasRefs {
		return t.literal, nil
	}
	buf = buf[:0]
	for i := range t.segs {
		sg := &t.segs[i]
		switch sg.kind {
		case segLiteral:
			buf = append(buf, sg.text...)
		case segParam:
			if params == nil {
				return "", fmt.Errorf("%w: {%s} (no parameters given)", ErrParam, sg.name)
			}
			v, ok := params.Param(sg.name)
			if !ok {
				return "", fmt.Errorf("%w: {%s}", ErrParam, sg.name)
			}
			if !sg.query && dotSegment(v) {
				return "", fmt.Errorf("%w: {%s}: %w", ErrParam, sg.name, errDotSegment)
			}
			buf = appendEscaped(buf, v, sg.query)
		case segField:
			v := &vals[sg.slot]
			if err := sg.check(v); err != nil {
				return "", &DependencyError{Call: sg.name, Field: sg.field,
					Err: fmt.Errorf("%w: field %q of call %q: %w", ErrField, sg.field, sg.name, err)}
			}
			buf = appendEscaped(buf, v.text, sg.query)
		}
	}
	return string(buf), nil
}

// errDotSegment is why a value cannot fill a path segment although escaping
// would leave it as is: "", "." and ".." would be read by the backend (or
// any proxy between) as no segment, this segment, or the parent one.
var errDotSegment = errors.New(`empty, "." or ".." cannot be a path segment`)

// dotSegment reports whether v is "", "." or "..".
func dotSegment[S string | []byte](v S) bool {
	return len(v) == 0 || len(v) <= 2 && string(v) == ".."[:len(v)]
}

// check tells whether an extracted value may fill the segment: it is of the
// rule's JSON type and passes its Check, and in the path part it is not a
// dot segment.
func (sg *segment) check(v *value) error {
	if !sg.query && dotSegment(v.text) {
		return errDotSegment
	}
	r := sg.rule
	if r == nil {
		return nil
	}
	switch {
	case r.Number && !v.number:
		return errors.New("not a JSON number")
	case !r.Number && v.number:
		return errors.New("not a JSON string")
	case r.Check == nil:
		return nil
	}
	// The text is a slice of the body, valid during expand; the rule's
	// contract is not to keep it, so it is passed without a copy.
	return r.Check(unsafe.String(unsafe.SliceData(v.text), len(v.text)))
}

// keep[c]&1: byte c stays as is in a path segment (as url.PathEscape does:
// unreserved characters and $ & + : = @); keep[c]&2: it stays as is in a query
// value (unreserved characters only).
var keep = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			t[c] = 3
		}
	}
	for _, c := range "-_.~" {
		t[c] = 3
	}
	for _, c := range "$&+:=@" {
		t[c] = 1
	}
	return t
}()

// appendEscaped appends s percent-escaped as a path segment, or as a query
// value if query is set.
func appendEscaped[S string | []byte](dst []byte, s S, query bool) []byte {
	const hex = "0123456789ABCDEF"
	mask := uint8(1)
	if query {
		mask = 2
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep[c]&mask != 0 {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}
