// Package strictyaml reads YAML (and JSON turned into YAML nodes) strictly
// and reports every problem at once, each as "file:line: field.path:
// reason" in one wording.
//
// It is the one decoder of the files Fanout's people write by hand: the mock
// backends' model (package model) and the bench's scenario files, which
// embed that model under "backends:". A caller walks the yaml.Node tree with
// a Decoder: Fields refuses unknown keys, the typed readers (Str, Float, Int,
// Duration, List) check the kind of each value, and OK records a problem and
// lets the walk go on, so that one read of a file lists all its problems in
// line order.
package strictyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem with one field: where it is and why it is wrong. File
// and Line are set when they are known.
type Error struct {
	File   string // file name, if known
	Line   int    // 1-based line, if known
	Path   string // dotted field path, e.g. "backends.results.latency.p99"
	Reason string
}

// Error formats the error as "file:line: path: reason", leaving out what is
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one read, in line order.
type Errors []*Error

// Error prints one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error; it finds the first one first.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, fe := range e {
		out[i] = fe
	}
	return out
}

// A Decoder collects the problems of one file or one JSON body. A field
// with a problem is recorded and skipped, and the caller goes on with the
// next. A Decoder is not safe for concurrent use.
type Decoder struct {
	// File names the source in every recorded *Error; empty for a body
	// that has no file, such as the admin API's JSON.
	File string
	errs Errors
}

// OK records err, if any, and reports whether there was none. An *Error
// without a file gets the Decoder's, an Errors is recorded one by one, and
// any other error becomes an *Error with no path.
func (d *Decoder) OK(err error) bool {
	if err == nil {
		return true
	}
	var list Errors
	if errors.As(err, &list) {
		for _, fe := range list {
			d.OK(fe)
		}
		return false
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{Reason: err.Error()}
	}
	if fe.File == "" && d.File != "" {
		out := *fe
		out.File = d.File
		fe = &out
	}
	d.errs = append(d.errs, fe)
	return false
}

// Count is the number of problems recorded so far: a caller compares it
// before and after a section to know whether the section was sound.
func (d *Decoder) Count() int { return len(d.errs) }

// Err returns the recorded problems in line order (problems on one line
// keep the order they were found in), or nil when there are none.
func (d *Decoder) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
	return d.errs
}

// Errorf returns, without recording it, a problem of the field at path,
// whose value is n (nil when there is none).
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) *Error {
	e := &Error{File: d.File, Path: path, Reason: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// Parse reads the single YAML document of src and returns its top value,
// nil for an empty document. A syntax error and a second document are
// errors; nothing is recorded.
func (d *Decoder) Parse(src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(d.File, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: d.File, Line: extra.Line, Reason: "more than one YAML document"}
	}
	return Resolve(&doc), nil
}

// syntaxError turns the parser's "yaml: line 3: reason" into an *Error at
// line 3 of file, so that it reads like every other problem.
func syntaxError(file string, err error) *Error {
	e := &Error{File: file, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	if rest, ok := strings.CutPrefix(e.Reason, "line "); ok {
		num, reason, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			e.Line, e.Reason = line, reason
		}
	}
	return e
}

// Mapping calls fn with every key of the mapping n and its value, in file
// order, with the key's path below path. A null n is an empty mapping. Keys
// that are not names and keys given twice are recorded and skipped; a
// value that is not a mapping is returned as an error, not recorded.
func (d *Decoder) Mapping(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node, path string)) error {
	n = Resolve(n)
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.Errorf(n, path, "want a mapping, found %s", describe(n))
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := Resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.OK(d.Errorf(n.Content[i], path, "want a name as key, found %s", describe(n.Content[i])))
			continue
		}
		kp := Join(path, k.Value)
		if seen[k.Value] {
			d.OK(d.Errorf(k, kp, "appears twice"))
			continue
		}
		seen[k.Value] = true
		fn(k.Value, k, Resolve(n.Content[i+1]), kp)
	}
	return nil
}

// Fields checks that n is a mapping whose keys are all in allowed, and
// returns the value of each known key. Unknown keys are recorded and the
// known ones are still returned, so their problems show up in the same
// read. A null n is an empty mapping; a value that is not a mapping is
// returned as an error, not recorded.
func (d *Decoder) Fields(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	err := d.Mapping(n, path, func(key string, k, v *yaml.Node, kp string) {
		if !slices.Contains(allowed, key) {
			d.OK(d.Errorf(k, kp, "unknown field (known: %s)", strings.Join(allowed, ", ")))
			return
		}
		out[key] = v
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Str reads a string: any scalar but null.
func (d *Decoder) Str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		return "", d.Errorf(n, path, "want a string, found %s", describe(n))
	}
	return n.Value, nil
}

// Float reads a finite number. A quoted number is a string, not a number.
func (d *Decoder) Float(n *yaml.Node, path string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		return 0, d.Errorf(n, path, "want a number, found %s", describe(n))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, d.Errorf(n, path, "want a number, found %s", describe(n))
	}
	return v, nil
}

// Positive reads a number greater than zero.
func (d *Decoder) Positive(n *yaml.Node, path string) (float64, error) {
	v, err := d.Float(n, path)
	if err == nil && v <= 0 {
		err = d.Errorf(n, path, "must be positive, found %v", v)
	}
	return v, err
}

// Int reads a whole number of at least min.
func (d *Decoder) Int(n *yaml.Node, path string, min int) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, d.Errorf(n, path, "want an integer, found %s", describe(n))
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, d.Errorf(n, path, "want an integer, found %s", describe(n))
	}
	if v < min {
		return 0, d.Errorf(n, path, "must be at least %d, found %d", min, v)
	}
	return v, nil
}

// Duration reads a duration of at least zero, written as Go writes one
// ("500ms", "2s").
func (d *Decoder) Duration(n *yaml.Node, path string) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		return 0, d.Errorf(n, path, "%s", DurationReason(describe(n)))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return 0, d.Errorf(n, path, "%v", err)
	}
	return v, nil
}

// ParseDuration reads a duration of at least zero, written as Go writes
// one. Its errors are the reasons Duration gives, for callers that read
// durations inside a string of their own syntax.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New(DurationReason(strconv.Quote(s)))
	}
	if v < 0 {
		return 0, fmt.Errorf("must not be negative, found %v", v)
	}
	return v, nil
}

// DurationReason is the reason given for something that is not a duration,
// described by found.
func DurationReason(found string) string {
	return "want a duration such as 500ms or 2s, found " + found
}

// List reads a list and returns its items.
func (d *Decoder) List(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, d.Errorf(n, path, "want a list, found %s", describe(n))
	}
	return n.Content, nil
}

// Join appends the field q to the path p.
func Join(p, q string) string {
	switch {
	case p == "":
		return q
	case q == "":
		return p
	}
	return p + "." + q
}

// Resolve follows document and alias nodes to the node that holds a value;
// nil for an empty document.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		case yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

// IsNull reports whether n is absent or null.
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describe names what n holds, for the "found ..." part of a reason.
func describe(n *yaml.Node) string {
	switch {
	case n == nil, IsNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

// ParseJSON parses JSON into the node tree that a Decoder walks, so JSON
// and YAML share one set of rules. Object keys keep their order; nodes have
// no line.
func ParseJSON(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := jsonValue(dec)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return n, nil
}

func jsonValue(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
