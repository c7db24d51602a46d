package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// publicView is the document as clients see it: every specification
// extension (x-fanout and any other x- field) removed, because those are
// the gateway's internals (backend names, backend paths, policies), not
// the contract. It is rendered once, at load.
type publicView struct {
	yaml []byte
	json []byte
}

// newPublicView renders data's public view. Which keys are extensions is
// kin-openapi's call, not a guess from the name: a property, a header or a
// field of an example may be called "x-something" and is then part of the
// contract. The JSON is kin-openapi's rendering of the document with its
// extensions cleared; the YAML is data as written (order, styles,
// comments) minus the "x-" keys that rendering no longer holds.
func newPublicView(data []byte) (publicView, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return publicView{}, fmt.Errorf("public view: %w", err)
	}
	clearExtensions(reflect.ValueOf(doc), map[uintptr]bool{})
	js, err := json.Marshal(doc)
	if err != nil {
		return publicView{}, fmt.Errorf("public view: render JSON: %w", err)
	}
	var public any
	if err := json.Unmarshal(js, &public); err != nil {
		return publicView{}, fmt.Errorf("public view: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return publicView{}, fmt.Errorf("public view: parse YAML: %w", err)
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		pruneExtensions(root.Content[0], public)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return publicView{}, fmt.Errorf("public view: render YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return publicView{}, fmt.Errorf("public view: render YAML: %w", err)
	}
	return publicView{yaml: b.Bytes(), json: js}, nil
}

// clearExtensions empties every Extensions field reachable from v, a value
// of kin-openapi's document model. seen holds the pointers visited, since
// a recursive schema refers to itself. kin-openapi keeps paths, responses
// and callbacks in unexported maps behind a Map method; those are walked
// through it. Interface fields hold examples and defaults, the client's
// data, and are left alone.
func clearExtensions(v reflect.Value, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		if m := v.MethodByName("Map"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 {
			clearExtensions(m.Call(nil)[0], seen)
		}
		clearExtensions(v.Elem(), seen)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Name == "Extensions" && f.Type == reflect.TypeFor[map[string]any]() {
				v.Field(i).SetZero()
				continue
			}
			clearExtensions(v.Field(i), seen)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			clearExtensions(it.Value(), seen)
		}
	case reflect.Slice:
		for i := range v.Len() {
			clearExtensions(v.Index(i), seen)
		}
	}
}

// pruneExtensions removes from n, a YAML node, every mapping key that
// starts with "x-" and that public, the same place of the public JSON
// rendering, does not hold.
func pruneExtensions(n *yaml.Node, public any) {
	switch n.Kind {
	case yaml.MappingNode:
		m, _ := public.(map[string]any)
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub, ok := m[k.Value]
			if !ok && strings.HasPrefix(k.Value, "x-") {
				continue
			}
			if ok {
				pruneExtensions(v, sub)
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	case yaml.SequenceNode:
		s, _ := public.([]any)
		if len(s) != len(n.Content) {
			return
		}
		for i, e := range n.Content {
			pruneExtensions(e, s[i])
		}
	}
}
