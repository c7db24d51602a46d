package fanout

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// value is one extracted field: its text, ready to be escaped into a path, or
// why it could not be extracted.
type value struct {
	text   []byte // usually a slice of the body, so valid until Release
	number bool   // the field is a JSON number, not a string
	why    missing
}

// missing says why a field has no value.
type missing uint8

const (
	present    missing = iota
	absent             // the object has no such key
	notScalar          // the value is an object, array, boolean or null
	notObject          // the body is valid JSON, but not an object
	malformed          // the body is not valid JSON
	outOfRange         // a number too large to write in decimal
	duplicate          // the object gives the key more than once
	notScanned         // the call did not deliver (never read by a dependent)
)

func (m missing) String() string {
	switch m {
	case absent:
		return "no such field"
	case notScalar:
		return "not a string or number"
	case notObject:
		return "body is not a JSON object"
	case malformed:
		return "body is not valid JSON"
	case outOfRange:
		return "number out of range"
	case duplicate:
		return "key given more than once"
	}
	return "not extracted"
}

// fieldError is the cause in a DependencyError for a field that could not be
// extracted; it is built only on that failure path.
func fieldError(call, field string, why missing) error {
	return fmt.Errorf("%w: field %q of call %q: %s", ErrField, field, call, why)
}

// MaxDepth is how deep a backend's JSON body may nest: an object or array
// inside MaxDepth others is refused as malformed. The scanner recurses once
// per level, so the bound keeps a hostile body (megabytes of "[") from
// growing the stack, and with it the work, beyond a few kilobytes; the
// backends' bodies nest four or five deep.
const MaxDepth = 64

// errNotJSON is CheckJSON's error, static so that the check allocates
// nothing even when it fails.
var errNotJSON = errors.New("not one JSON value nested at most 64 deep")

// CheckJSON reports whether body is one JSON value, nested at most MaxDepth
// deep, with nothing after it but white space: nil if it is. It is one pass
// over the bytes with the scanner extract uses, and allocates nothing.
func CheckJSON(body []byte) error {
	s := scanner{b: body}
	s.space()
	if s.value(0) == badValue || !s.end() {
		return errNotJSON
	}
	return nil
}

// extract scans body, which should be a JSON object, for the top-level keys in
// fields and stores each one's text in vals (parallel to fields). Strings give
// their decoded text, numbers their decimal text. The whole body is checked:
// a malformed body yields no value at all. A key of fields given twice has
// no value (duplicate): encoding/json would take the last, fastjson the
// first, and the gateway reads the body with both.
//
// It is a purpose-built scanner rather than encoding/json because the common
// case (a small object, two or three unescaped string ids) then costs one pass
// and no allocation: values are slices of the body.
func extract(body []byte, fields []string, vals []value) {
	for k := range vals {
		vals[k] = value{why: absent}
	}
	s := scanner{b: body}
	s.space()
	if s.i >= len(s.b) {
		setAll(vals, malformed)
		return
	}
	if s.b[s.i] != '{' {
		if s.value(0) == badValue || !s.end() {
			setAll(vals, malformed)
		} else {
			setAll(vals, notObject)
		}
		return
	}
	s.i++
	s.space()
	if s.peek() == '}' {
		s.i++
		if !s.end() {
			setAll(vals, malformed)
		}
		return
	}
	for {
		if s.peek() != '"' {
			setAll(vals, malformed)
			return
		}
		ks, ke, kflags := s.str()
		if kflags&strBad != 0 {
			setAll(vals, malformed)
			return
		}
		s.space()
		if s.peek() != ':' {
			setAll(vals, malformed)
			return
		}
		s.i++
		s.space()
		vs := s.i
		kind := s.value(1)
		if kind == badValue {
			setAll(vals, malformed)
			return
		}
		if k := match(body, ks, ke, kflags, fields); k >= 0 {
			if vals[k].why != absent {
				vals[k] = value{why: duplicate}
			} else {
				vals[k] = take(body, vs, s.i, kind)
			}
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			if !s.end() {
				setAll(vals, malformed)
			}
			return
		default:
			setAll(vals, malformed)
			return
		}
	}
}

func setAll(vals []value, why missing) {
	for k := range vals {
		vals[k] = value{why: why}
	}
}

// match returns the index in fields of the key body[ks:ke] (the quotes
// excluded), or -1.
func match(body []byte, ks, ke int, flags uint8, fields []string) int {
	key := body[ks+1 : ke-1]
	if flags&strEscaped != 0 {
		// Rare: let encoding/json decode escapes and invalid UTF-8 exactly.
		var s string
		if json.Unmarshal(body[ks:ke], &s) != nil {
			return -1
		}
		key = []byte(s)
	}
	for k, f := range fields {
		if string(key) == f {
			return k
		}
	}
	return -1
}

// take turns the value body[vs:ve] of the given kind into path text.
func take(body []byte, vs, ve int, kind valueKind) value {
	switch kind {
	case stringValue, stringEscaped:
		raw := body[vs:ve]
		if kind == stringValue {
			return value{text: raw[1 : len(raw)-1]}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return value{why: malformed}
		}
		return value{text: []byte(s)}
	case numberValue:
		return value{text: body[vs:ve], number: true}
	case numberExponent:
		f, err := strconv.ParseFloat(string(body[vs:ve]), 64)
		if err != nil {
			return value{why: outOfRange}
		}
		return value{text: strconv.AppendFloat(nil, f, 'f', -1, 64), number: true}
	}
	return value{why: notScalar}
}

type valueKind uint8

const (
	badValue       valueKind = iota
	stringValue              // plain: its text is the bytes between the quotes
	stringEscaped            // escapes or invalid UTF-8: needs decoding
	numberValue              // no exponent: its text is decimal already
	numberExponent           // 1e3: needs formatting
	otherValue               // object, array, true, false, null
)

const (
	strBad      uint8 = 1 << iota
	strEscaped        // has escapes or invalid UTF-8: decode with encoding/json
	strNonASCII       // has bytes >= 0x80
)

// plain[c] says that byte c stands for itself inside a JSON string: not a
// quote, a backslash, a control character or part of a multi-byte
// character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// The scanner's loops work on local copies of s.b and s.i and store s.i
// once they are done: through the pointer, every step would load and store
// it, which made the scan about a third slower.

func (s *scanner) space() {
	b, i := s.b, s.i
	// The backends' bodies are compact: most calls find no space at all.
	if i < len(b) && b[i] > ' ' {
		return
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			s.i = i
			return
		}
	}
	s.i = i
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str scans the string at s.i (at its opening quote) and returns its bounds,
// quotes included.
func (s *scanner) str() (start, end int, flags uint8) {
	b := s.b
	start = s.i
	i := start + 1
	for i < len(b) {
		// Most bytes of a string are plain: skip them in a tight loop.
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			i++
			if flags&strNonASCII != 0 && !utf8.Valid(b[start:i]) {
				flags |= strEscaped // encoding/json replaces invalid UTF-8: decode it the same way
			}
			s.i = i
			return start, i, flags
		case c == '\\':
			flags |= strEscaped
			i++
			if i >= len(b) {
				s.i = i
				return start, i, flags | strBad
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					s.i = i
					return start, i, flags | strBad
				}
				i += 5
			default:
				s.i = i
				return start, i, flags | strBad
			}
		case c < 0x20:
			s.i = i
			return start, i, flags | strBad
		default:
			if c >= utf8.RuneSelf {
				flags |= strNonASCII
			}
			i++
		}
	}
	s.i = i
	return start, i, flags | strBad
}

// value scans any JSON value at s.i and says what kind it was.
func (s *scanner) value(depth int) valueKind {
	if depth > MaxDepth {
		return badValue
	}
	switch c := s.peek(); {
	case c == '"':
		_, _, flags := s.str()
		switch {
		case flags&strBad != 0:
			return badValue
		case flags&strEscaped != 0:
			return stringEscaped
		}
		return stringValue
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == '{' || c == '[':
		return s.container(depth)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return badValue
}

// container scans the object or array at s.i, whose members are at depth+1.
func (s *scanner) container(depth int) valueKind {
	object := s.peek() == '{'
	closing := byte(']')
	if object {
		closing = '}'
	}
	for more := s.open(closing); more; {
		if object && !s.key() {
			return badValue
		}
		if s.value(depth+1) == badValue {
			return badValue
		}
		var ok bool
		if more, ok = s.next(closing); !ok {
			return badValue
		}
	}
	return otherValue
}

// key scans an object member's key and the colon after it, and reports
// whether they are well formed.
func (s *scanner) key() bool {
	if s.peek() != '"' {
		return false
	}
	if _, _, flags := s.str(); flags&strBad != 0 {
		return false
	}
	s.space()
	if s.peek() != ':' {
		return false
	}
	s.i++
	s.space()
	return true
}

// open steps past the opening bracket of an object or array and reports
// whether it holds any member: false if closing came at once (and is passed).
func (s *scanner) open(closing byte) (more bool) {
	s.i++
	s.space()
	if s.peek() == closing {
		s.i++
		return false
	}
	return true
}

// next steps past what follows a member of an object or array: a comma
// (more is true) or the closing bracket (more is false). ok is false for
// anything else.
func (s *scanner) next(closing byte) (more, ok bool) {
	s.space()
	switch s.peek() {
	case ',':
		s.i++
		s.space()
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

func (s *scanner) literal(word string) valueKind {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return badValue
	}
	s.i += len(word)
	return otherValue
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() valueKind {
	b, i := s.b, s.i
	kind := numberValue
	if at(b, i) == '-' {
		i++
	}
	switch c := at(b, i); {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = skipDigits(b, i)
	default:
		s.i = i
		return badValue
	}
	if at(b, i) == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			s.i = j
			return badValue
		}
		i = j
	}
	if c := at(b, i); c == 'e' || c == 'E' {
		kind = numberExponent
		i++
		if c := at(b, i); c == '+' || c == '-' {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			s.i = j
			return badValue
		}
		i = j
	}
	s.i = i
	return kind
}

// at is b[i], or 0 past the end.
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// skipDigits returns the index of the first byte at or after i in b that
// is not a decimal digit.
func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
