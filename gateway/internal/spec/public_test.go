package spec

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// extensionKeys returns the path of every mapping key of v (a decoded JSON
// or YAML value) that starts with "x-". The gateway's document names no
// property, header or media type so, so in it every such key is an
// extension.
func extensionKeys(v any, at string) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if strings.HasPrefix(k, "x-") {
				found = append(found, at+"/"+k)
			}
			found = append(found, extensionKeys(e, at+"/"+k)...)
		}
	case []any:
		for _, e := range v {
			found = append(found, extensionKeys(e, at+"/[]")...)
		}
	}
	return found
}

// canonical renders a document as kin-openapi reads it, so that two
// renderings of one document compare equal.
func canonical(t *testing.T, data []byte) []byte {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublicView: the public view of the gateway's document, in YAML and in
// JSON, holds no extension (x-fanout names internal backends and paths),
// keeps every operation, and both renderings are the same document.
func TestPublicView(t *testing.T) {
	full := document(t)
	var fullTree any
	if err := yaml.Unmarshal(full, &fullTree); err != nil {
		t.Fatal(err)
	}
	if len(extensionKeys(fullTree, "")) == 0 {
		t.Fatal("the full document has no extension: this test proves nothing")
	}
	s := load(t)
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(s.PublicYAML(), &fromYAML); err != nil {
		t.Fatalf("public YAML: %v", err)
	}
	if err := json.Unmarshal(s.PublicJSON(), &fromJSON); err != nil {
		t.Fatalf("public JSON: %v", err)
	}
	if x := extensionKeys(fromYAML, ""); len(x) > 0 {
		t.Errorf("the public YAML has extensions: %v", x)
	}
	if x := extensionKeys(fromJSON, ""); len(x) > 0 {
		t.Errorf("the public JSON has extensions: %v", x)
	}
	if !bytes.Equal(canonical(t, s.PublicYAML()), canonical(t, s.PublicJSON())) {
		t.Error("the public YAML and JSON are not the same document")
	}
	public, err := Load(s.PublicYAML())
	if err != nil {
		t.Fatalf("the public view does not load: %v", err)
	}
	if len(public.Operations()) != len(s.Operations()) {
		t.Errorf("the public view has %d operations, the document %d", len(public.Operations()), len(s.Operations()))
	}
	for i, op := range public.Operations() {
		if want := s.Operations()[i]; op.ID != want.ID || op.Path != want.Path || op.Method != want.Method {
			t.Errorf("operation %d: %s %s %s, want %s %s %s", i, op.ID, op.Method, op.Path, want.ID, want.Method, want.Path)
		}
	}
	// The YAML is the document as written, minus the extensions: its
	// descriptions keep their lines, its keys their order.
	if !bytes.HasPrefix(s.PublicYAML(), []byte("openapi: 3.0")) {
		t.Errorf("the public YAML starts %q", s.PublicYAML()[:min(40, len(s.PublicYAML()))])
	}
}

// TestPublicViewKeepsNames: only extensions go. A property, a header or an
// example field whose name starts with "x-" is part of the contract and
// stays; extensions go wherever the specification allows them.
func TestPublicViewKeepsNames(t *testing.T) {
	const doc = `openapi: 3.0.3
x-top: 1
info:
  title: t
  version: '1'
  x-info: 1
tags:
  - name: a
    x-tag: 1
paths:
  x-paths: 1
  /a:
    x-item: 1
    get:
      operationId: getA
      x-fanout: {calls: []}
      parameters:
        - name: q
          in: query
          x-param: 1
          schema: {type: string, x-schema: 1}
      responses:
        x-responses: 1
        '200':
          description: ok
          x-response: 1
          headers:
            x-trace:
              schema: {type: string}
          content:
            application/json:
              x-media: 1
              schema:
                $ref: '#/components/schemas/A'
              example: {x-keep: 1}
components:
  x-components: 1
  schemas:
    A:
      type: object
      x-schema: 1
      properties:
        x-keep:
          type: string
`
	view, err := newPublicView([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"yaml": view.yaml, "json": view.json} {
		var tree any
		if err := yaml.Unmarshal(b, &tree); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := extensionKeys(tree, "")
		want := map[string]bool{
			"/paths//a/get/responses/200/headers/x-trace":                         true,
			"/paths//a/get/responses/200/content/application/json/example/x-keep": true,
			"/components/schemas/A/properties/x-keep":                             true,
		}
		for _, k := range got {
			if !want[k] {
				t.Errorf("%s: extension %s is still there", name, k)
			}
			delete(want, k)
		}
		for k := range want {
			t.Errorf("%s: %s, a name, was removed", name, k)
		}
	}
}
