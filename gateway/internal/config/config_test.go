package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.Mode != DefaultMode || c.Deadline != DefaultDeadline || c.Backends["layers"].Addr != "127.0.0.1:9102" {
		t.Errorf("defaults: %+v", c)
	}

	// The file overrides the defaults, the flags override the file.
	c, err = Parse([]string{"-config", "testdata/gateway.yaml", "-pool-size", "2", "-backend", "layers=127.0.0.1:7000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "pool" || c.PoolSize != 2 || c.Deadline != time.Second || c.BackendTimeout != 300*time.Millisecond {
		t.Errorf("file and flags: %+v", c)
	}
	if r := c.Backends["results"]; r.Addr != "127.0.0.1:9999" || r.MaxConns != 8 || r.Timeout != 500*time.Millisecond {
		t.Errorf("results backend: %+v", r)
	}
	if c.Backends["layers"].Addr != "127.0.0.1:7000" || c.Backends["experiments"].Addr != "127.0.0.1:9101" {
		t.Errorf("backends: %+v", c.Backends)
	}
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		yaml, want string
	}{
		{"mode: parallel", "mode"},
		{"pool_size: -1", "pool_size"},
		{"deadline: -1s", "deadline"},
		{"colour: blue", "colour"},                     // unknown field
		{"backends: {results: {adress: x}}", "adress"}, // unknown nested field
		{"backends: {results: {addr: nowhere}}", "backends.results.addr"},
		{"deadline: soon", "soon"},
	}
	for _, c := range cases {
		cfg, err := Decode([]byte(c.yaml))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %q", c.yaml, err, c.want)
		}
	}
}
