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
