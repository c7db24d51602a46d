package server

import (
	"encoding/json"
	"unicode"
	"unicode/utf8"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/problem"

	"github.com/getkin/kin-openapi/openapi3"
)

// Bounds of what the gateway passes on of a backend's refusal of a create.
const (
	// maxRefusalEntries is the most invalid_params entries read, and
	// maxRefusalParams the most passed on.
	maxRefusalEntries = 64
	maxRefusalParams  = 16
	// maxFieldName bounds a property name of a field path, and
	// maxFieldIndex the digits of an index.
	maxFieldName  = 64
	maxFieldIndex = 4
	// maxRefusalReason is the longest reason passed on, in characters.
	maxRefusalReason = 200
)

// refusedParams reads the invalid_params of a backend's refusal of the
// operation's request body (a 400 or 422 problem) and returns the entries
// fit to pass on to the client: a name that is a field path of the body's
// schema ("variations[1].weight": properties the schema declares, indexes
// into its arrays) and a reason of 1 to maxRefusalReason characters of
// printable text. The backend is not trusted: every other entry, and every
// other byte of its body, is dropped, and what is kept is decoded and
// encoded again, never copied. It returns nil when nothing is fit.
func refusedParams(op *openapi3.Operation, body []byte) []problem.InvalidParam {
	schema := requestSchema(op)
	if schema == nil {
		return nil
	}
	var refusal struct {
		InvalidParams []json.RawMessage `json:"invalid_params"`
	}
	// The bounded check first: encoding/json would nest 10,000 deep.
	if fanout.CheckJSON(body) != nil || json.Unmarshal(body, &refusal) != nil {
		return nil
	}
	var out []problem.InvalidParam
	for i, raw := range refusal.InvalidParams {
		if i == maxRefusalEntries || len(out) == maxRefusalParams {
			break
		}
		var e struct {
			Name   string `json:"name"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(raw, &e) != nil || !plainReason(e.Reason) || !fieldOf(schema, e.Name) {
			continue
		}
		out = append(out, problem.InvalidParam{Name: e.Name, In: "body", Reason: e.Reason})
	}
	return out
}

// requestSchema is the schema of the operation's JSON request body, or nil.
func requestSchema(op *openapi3.Operation) *openapi3.Schema {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// plainReason reports whether s is fit to be a public reason: valid UTF-8,
// 1 to maxRefusalReason characters, no control characters.
func plainReason(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxRefusalReason {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// fieldOf reports whether path is a field path ("name", "variations[1]",
// "variations[1].weight") that exists in schema: each name a property the
// object declares, each index into an array. Names are [A-Za-z_] then
// [A-Za-z0-9_], at most maxFieldName characters; indexes are at most
// maxFieldIndex digits without a leading zero.
func fieldOf(schema *openapi3.Schema, path string) bool {
	s, i := schema, 0
	for {
		// A property name.
		start := i
		for i < len(path) && (path[i] == '_' || 'a' <= path[i] && path[i] <= 'z' || 'A' <= path[i] && path[i] <= 'Z' ||
			i > start && '0' <= path[i] && path[i] <= '9') {
			i++
		}
		if i == start || i-start > maxFieldName {
			return false
		}
		prop := s.Properties[path[start:i]]
		if prop == nil || prop.Value == nil {
			return false
		}
		s = prop.Value
		// Its indexes.
		for i < len(path) && path[i] == '[' {
			i++
			start = i
			for i < len(path) && '0' <= path[i] && path[i] <= '9' {
				i++
			}
			n := i - start
			if n == 0 || n > maxFieldIndex || n > 1 && path[start] == '0' || i == len(path) || path[i] != ']' {
				return false
			}
			i++
			if !s.Type.Is(openapi3.TypeArray) || s.Items == nil || s.Items.Value == nil {
				return false
			}
			s = s.Items.Value
		}
		if i == len(path) {
			return true
		}
		if path[i] != '.' {
			return false
		}
		i++
	}
}
