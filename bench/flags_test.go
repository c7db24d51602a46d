package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesGatewayFlags: -check parses the gateway flags of a
// scenario (the configs of its gateway section, those of a cost section)
// with the gateway's own flag set, and refuses an unknown flag and a bad
// value with the place of the config in the file, its name and the
// gateway's reason, exit 2, before anything starts.
func TestCheckRefusesGatewayFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		// A flag the gateway does not have.
		{"unknown", "gateway:\n  modes: [concurrent]\n  configs:\n    fast: -hedge-budget 0\n    typo: -hedge-budgett 0\n",
			[]string{":5: gateway.configs.typo (concurrent): ", "flag provided but not defined: -hedge-budgett"}},
		// A mode the gateway does not have, set by a config's flags.
		{"mode", "gateway:\n  modes: [concurrent]\n  configs:\n    fastest: -mode fastest\n",
			[]string{":4: gateway.configs.fastest (concurrent): ", `mode: "fastest" is not one of sequential, staged, concurrent, pool, blocking`}},
		// A value the gateway's validation refuses.
		{"pool", "gateway:\n  modes: [pool]\n  configs:\n    empty: -pool-size 0\n",
			[]string{":4: gateway.configs.empty (pool): ", "pool_size: 0, want at least 1"}},
	} {
		file := filepath.Join(dir, c.name+".yaml")
		src := c.src + "targets: [{path: /v2/projects/3}]\nload: {rates: [10]}\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-check", file}, &stdout, &stderr); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", c.name, code, stderr.String())
		}
		for _, want := range c.want {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%s: stderr does not say %q:\n%s", c.name, want, stderr.String())
			}
		}
		if !strings.Contains(stderr.String(), file+":") {
			t.Errorf("%s: stderr does not name the file:\n%s", c.name, stderr.String())
		}
	}
	// Flags the gateway has pass, in a cost section too.
	file := filepath.Join(dir, "ok.yaml")
	src := "gateway:\n  modes: [concurrent, pool]\n  configs:\n    unhedged: -hedge-budget 0\n    noshed: -overload off\ntargets: [{path: /v2/projects/3}]\nload: {rates: [10]}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-check", file}, &stdout, &stderr); code != 0 {
		t.Errorf("-check of the gateway's own flags: exit %d\n%s", code, stderr.String())
	}
}
