package server

import (
	"os"
	"strings"
	"testing"

	"fanout/gateway/internal/spec"
)

// TestFieldOf: which names of a backend's refusal are field paths of the
// create's body schema.
func TestFieldOf(t *testing.T) {
	data, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spec.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	schema := requestSchema(doc.Operation("createExperiment").Route().Operation)
	if schema == nil {
		t.Fatal("createExperiment has no JSON body schema")
	}
	for path, want := range map[string]bool{
		// Each entry proves one rule of the grammar or of the schema.
		"project_id":             true,
		"variations":             true,
		"variations[0]":          true,
		"variations[19].weight":  true,
		"variations[9999].key":   true,
		"":                       false, // nothing
		"colour":                 false, // not a property
		"Project_id":             false, // names are case-sensitive
		"name[0]":                false, // an index into a string
		"name.first":             false, // a property of a string
		"variations[1].colour":   false, // not a property of a variation
		"variations[01].key":     false, // leading zero
		"variations[10000].key":  false, // index too long
		"variations[].key":       false,
		"variations[1":           false,
		"variations[1]x":         false,
		"variations.1.key":       false, // indexes go in brackets
		"name.":                  false,
		".name":                  false,
		"name..x":                false,
		"variations[-1].key":     false,
		"variations[1].key ":     false,
		strings.Repeat("a", 65):  false,
		"variations[1].weight\n": false,
	} {
		if got := fieldOf(schema, path); got != want {
			t.Errorf("fieldOf(%q) = %v, want %v", path, got, want)
		}
	}
}

// FuzzRefusedParams: whatever a backend's refusal holds, refusedParams
// never fails, and what it keeps is bounded and fit to pass on.
func FuzzRefusedParams(f *testing.F) {
	data, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		f.Fatal(err)
	}
	doc, err := spec.Load(data)
	if err != nil {
		f.Fatal(err)
	}
	op := doc.Operation("createExperiment").Route().Operation
	schema := requestSchema(op)
	for _, seed := range []string{
		`{"invalid_params":[{"name":"variations[1].weight","reason":"weights must sum to 1"}]}`,
		`{"invalid_params":[{"name":"layer_id","reason":"x"},{"name":"owner","reason":"y"},null,"z",{"name":1}]}`,
		`{"invalid_params":"x"}`,
		`[]`,
		`not json`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := refusedParams(op, body)
		if len(out) > maxRefusalParams {
			t.Fatalf("%d entries kept", len(out))
		}
		for _, p := range out {
			if p.In != "body" || !fieldOf(schema, p.Name) || !plainReason(p.Reason) {
				t.Fatalf("kept %+v", p)
			}
		}
	})
}
