package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"fanout/gateway/assembly"
)

// TestWritesThePublicView: the command writes the public view the gateway
// serves, in YAML or JSON, never the full document.
func TestWritesThePublicView(t *testing.T) {
	s, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		json bool
		want []byte
	}{
		{false, s.PublicYAML()},
		{true, s.PublicJSON()},
	} {
		out := filepath.Join(t.TempDir(), "openapi")
		if err := run(out, c.json); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.want) || bytes.Contains(got, []byte("x-fanout:")) || bytes.Contains(got, []byte(`"x-fanout"`)) {
			t.Errorf("json %t: wrote %d bytes, the public view has %d", c.json, len(got), len(c.want))
		}
	}
	if err := run(filepath.Join(t.TempDir(), "no", "such", "dir"), false); err == nil {
		t.Error("writing into a missing directory did not fail")
	}
}
