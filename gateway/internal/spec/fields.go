package spec

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"fanout/gateway/fanout"

	"github.com/getkin/kin-openapi/openapi3"
)

// DefaultFieldSchema is the component schema a response field must satisfy
// to fill a call's path when the call's x-fanout `fields` names none: the
// fields that fill paths are ids.
const DefaultFieldSchema = "Id"

// fieldRefs returns the {call.field} references of a path template, in
// order, without duplicates. The template's syntax is the engine's to check;
// this only finds the references.
func fieldRefs(path string) []string {
	var refs []string
	for {
		open := strings.IndexByte(path, '{')
		if open < 0 {
			return refs
		}
		end := strings.IndexByte(path[open:], '}')
		if end < 0 {
			return refs
		}
		ref := path[open+1 : open+end]
		if strings.Contains(ref, ".") && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
		path = path[open+end+1:]
	}
}

// fieldRules builds the rule of every field reference of a call's path from
// the component schema that `fields` names for it (DefaultFieldSchema if
// none). A name in `fields` that the path does not reference, or a schema
// that does not exist or cannot be checked, is an error.
func fieldRules(doc *openapi3.T, c callDoc, cache map[string]fanout.FieldRule) (map[string]fanout.FieldRule, error) {
	refs := fieldRefs(c.Path)
	for ref := range c.Fields {
		if !slices.Contains(refs, ref) {
			return nil, fmt.Errorf("fields: {%s} is not referenced by the path %q", ref, c.Path)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	rules := make(map[string]fanout.FieldRule, len(refs))
	for _, ref := range refs {
		name := c.Fields[ref]
		if name == "" {
			name = DefaultFieldSchema
		}
		rule, ok := cache[name]
		if !ok {
			var err error
			if rule, err = schemaRule(doc, name); err != nil {
				return nil, fmt.Errorf("fields: {%s}: %w", ref, err)
			}
			cache[name] = rule
		}
		rules[ref] = rule
	}
	return rules, nil
}

// schemaRule compiles the named component schema into a FieldRule: a
// string schema's length and pattern, or an integer schema's bounds. The
// check is built once here so that a request pays no parsing and no regexp
// for the usual patterns.
func schemaRule(doc *openapi3.T, name string) (fanout.FieldRule, error) {
	var ref *openapi3.SchemaRef
	if doc.Components != nil {
		ref = doc.Components.Schemas[name]
	}
	if ref == nil || ref.Value == nil {
		return fanout.FieldRule{}, fmt.Errorf("no component schema %q", name)
	}
	s := ref.Value
	switch {
	case s.Type.Is(openapi3.TypeString):
		return stringRule(name, s)
	case s.Type.Is(openapi3.TypeInteger):
		return integerRule(name, s), nil
	}
	return fanout.FieldRule{}, fmt.Errorf("schema %q: only string and integer schemas can fill a path", name)
}

// lengths are a string schema's bounds on its length, counted in
// characters, as JSON Schema counts them (not bytes); max < 0: no bound.
type lengths struct{ min, max int }

func lengthsOf(s *openapi3.Schema) lengths {
	l := lengths{min: int(s.MinLength), max: -1}
	if s.MaxLength != nil {
		l.max = int(*s.MaxLength)
	}
	return l
}

// fit says how v's length in characters fits l, counting them once: -1
// shorter than allowed, 1 longer, 0 within.
func (l lengths) fit(v string) int {
	switch n := utf8.RuneCountInString(v); {
	case n < l.min:
		return -1
	case l.max >= 0 && n > l.max:
		return 1
	}
	return 0
}

func stringRule(name string, s *openapi3.Schema) (fanout.FieldRule, error) {
	l := lengthsOf(s)
	var match func(string) bool
	if s.Pattern != "" {
		var err error
		if match, err = compilePattern(s.Pattern); err != nil {
			return fanout.FieldRule{}, fmt.Errorf("schema %q: pattern %q: %w", name, s.Pattern, err)
		}
	}
	pattern := s.Pattern
	return fanout.FieldRule{Check: func(v string) error {
		switch fit := l.fit(v); {
		case fit < 0:
			return fmt.Errorf("shorter than %d characters (schema %s)", l.min, name)
		case fit > 0:
			return fmt.Errorf("longer than %d characters (schema %s)", l.max, name)
		case match != nil && !match(v):
			return fmt.Errorf("does not match %s (schema %s)", pattern, name)
		}
		return nil
	}}, nil
}

func integerRule(name string, s *openapi3.Schema) fanout.FieldRule {
	lo, hi := s.Min, s.Max
	return fanout.FieldRule{Number: true, Check: func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			return fmt.Errorf("not an integer (schema %s)", name)
		case lo != nil && float64(n) < *lo:
			return fmt.Errorf("below %v (schema %s)", *lo, name)
		case hi != nil && float64(n) > *hi:
			return fmt.Errorf("above %v (schema %s)", *hi, name)
		}
		return nil
	}}
}

// An atom is one element of an anchored pattern: a set of bytes repeated
// between min and max times (max < 0: no bound).
type atom struct {
	set      [256]bool
	min, max int
}

var errUnsupported = errors.New("not a sequence of character classes")

// compilePattern returns a matcher for an OpenAPI pattern. The usual id
// patterns, anchored sequences of character classes and literals with
// quantifiers (^[1-9][0-9]{0,17}$), compile into a table walk; any other
// pattern falls back to a precompiled regexp.
func compilePattern(p string) (func(string) bool, error) {
	atoms, err := parseAtoms(p)
	if err == nil {
		return func(s string) bool { return matchAtoms(atoms, s) }, nil
	}
	re, rerr := regexp.Compile(p)
	if rerr != nil {
		return nil, rerr
	}
	return re.MatchString, nil
}

// parseAtoms parses ^(atom quantifier?)*$ where an atom is a literal
// letter, digit, '_' or '-', an escaped character, \d, or a class [...] of
// such characters and ranges.
func parseAtoms(p string) ([]atom, error) {
	if len(p) < 2 || p[0] != '^' || p[len(p)-1] != '$' {
		return nil, errUnsupported
	}
	p = p[1 : len(p)-1]
	var atoms []atom
	for i := 0; i < len(p); {
		var a atom
		a.min, a.max = 1, 1
		switch c := p[i]; {
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 2 {
				return nil, errUnsupported
			}
			class := p[i+1 : i+end]
			if class[0] == '^' {
				return nil, errUnsupported
			}
			for j := 0; j < len(class); j++ {
				lo := class[j]
				if lo == '\\' {
					return nil, errUnsupported
				}
				if j+2 < len(class) && class[j+1] == '-' {
					for b := int(lo); b <= int(class[j+2]); b++ {
						a.set[b] = true
					}
					j += 2
					continue
				}
				a.set[lo] = true
			}
			i += end + 1
		case c == '\\' && i+1 < len(p):
			switch e := p[i+1]; {
			case e == 'd':
				for b := '0'; b <= '9'; b++ {
					a.set[b] = true
				}
			case strings.IndexByte(`.-_/\^$[](){}|?*+`, e) >= 0:
				a.set[e] = true
			default:
				return nil, errUnsupported
			}
			i += 2
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-':
			a.set[c] = true
			i++
		default:
			return nil, errUnsupported
		}
		if i < len(p) {
			switch p[i] {
			case '?':
				a.min, a.max = 0, 1
				i++
			case '*':
				a.min, a.max = 0, -1
				i++
			case '+':
				a.min, a.max = 1, -1
				i++
			case '{':
				end := strings.IndexByte(p[i:], '}')
				if end < 0 {
					return nil, errUnsupported
				}
				lo, hi, comma := strings.Cut(p[i+1:i+end], ",")
				var err error
				if a.min, err = strconv.Atoi(lo); err != nil {
					return nil, errUnsupported
				}
				switch {
				case !comma:
					a.max = a.min
				case hi == "":
					a.max = -1
				default:
					if a.max, err = strconv.Atoi(hi); err != nil || a.max < a.min {
						return nil, errUnsupported
					}
				}
				i += end + 1
			}
		}
		atoms = append(atoms, a)
	}
	return atoms, nil
}

// matchAtoms reports whether the whole of s matches the atoms: each takes
// as many bytes as it can, giving back one at a time when the rest fails.
func matchAtoms(atoms []atom, s string) bool {
	if len(atoms) == 0 {
		return s == ""
	}
	a := &atoms[0]
	n := 0
	for n < len(s) && (a.max < 0 || n < a.max) && a.set[s[n]] {
		n++
	}
	for ; n >= a.min; n-- {
		if matchAtoms(atoms[1:], s[n:]) {
			return true
		}
	}
	return false
}
