package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/server"
)

func TestParse(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.Mode != fanout.ModeConcurrent || c.Deadline != server.DefaultDeadline || c.Backends["layers"].Addr != "127.0.0.1:9102" {
		t.Errorf("defaults: %+v", c)
	}

	// The file overrides the defaults, the flags override the file.
	c, err = Parse([]string{"-config", "testdata/gateway.yaml", "-pool-size", "2", "-backend", "layers=127.0.0.1:7000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "pool" || c.PoolSize != 2 || c.Deadline != time.Second || c.Options.Timeout != 300*time.Millisecond {
		t.Errorf("file and flags: %+v", c)
	}
	if r := c.Backends["results"]; r.Addr != "127.0.0.1:9999" || r.MaxConns != 8 || r.Timeout != 500*time.Millisecond {
		t.Errorf("results backend: %+v", r)
	}
	if c.Backends["layers"].Addr != "127.0.0.1:7000" || c.Backends["experiments"].Addr != "127.0.0.1:9101" {
		t.Errorf("backends: %+v", c.Backends)
	}
}

// TestStoreFailureModes: rate limits fail open and idempotency closed by
// default; a flag or the file says otherwise, and the flag wins.
func TestStoreFailureModes(t *testing.T) {
	cases := []struct {
		args                []string
		rateLimit, idemMode FailMode
	}{
		{nil, FailOpen, FailClosed}, // the documented defaults
		{[]string{"-ratelimit-on-store-error", "closed"}, FailClosed, FailClosed},
		{[]string{"-idempotency-on-store-error", "OPEN"}, FailOpen, FailOpen}, // case does not matter
	}
	for _, c := range cases {
		cfg, err := Parse(c.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.RateLimitOnStoreError != c.rateLimit || cfg.IdempotencyOnStoreError != c.idemMode {
			t.Errorf("%v: rate limit %q, idempotency %q; want %q, %q", c.args, cfg.RateLimitOnStoreError, cfg.IdempotencyOnStoreError, c.rateLimit, c.idemMode)
		}
	}
	cfg, err := Decode([]byte("ratelimit_on_store_error: closed\nidempotency_on_store_error: open"))
	if err != nil || cfg.RateLimitOnStoreError != FailClosed || cfg.IdempotencyOnStoreError != FailOpen {
		t.Errorf("from YAML: %q, %q, %v", cfg.RateLimitOnStoreError, cfg.IdempotencyOnStoreError, err)
	}
	if _, err := Parse([]string{"-ratelimit-on-store-error", "sometimes"}, io.Discard); err == nil {
		t.Error("-ratelimit-on-store-error sometimes: no error")
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
		{"drain_delay: -1s", "drain_delay"},
		{"tls_cert: cert.pem", "tls_key"}, // half a pair
		{"tls_key: key.pem", "tls_cert"},
		{"log_format: xml", "log_format"},
		{"access_log_sample: 2", "2"},
		{"trace_sample: 150%", "150%"},
		{"otlp_endpoint: 127.0.0.1:4318", "otlp_endpoint"}, // no scheme: the SDK would ignore it
		{"otlp_endpoint: ftp://collector", "otlp_endpoint"},
		{"tokens: t.yaml\ndev_token_file: token", "dev_token_file"}, // no development token to write
		{"auth: off\ndev_token_file: token", "dev_token_file"},
		{"ratelimit_on_store_error: maybe", "maybe"},
		{"idempotency_on_store_error: ajar", "ajar"},
		{"procs: -1", "procs"},
		{"work: -1ms", "work"},
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

// TestFlagsOverrideTheFile: a flag given on the command line wins over the
// file even when it names the default value, and a flag not given leaves
// the file's value alone.
func TestFlagsOverrideTheFile(t *testing.T) {
	c, err := Parse([]string{"-config", "testdata/gateway.yaml", "-pool-size", "16"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.PoolSize != fanout.DefaultPoolSize || c.Mode != "pool" || c.Deadline != time.Second {
		t.Errorf("pool size %d (want the flag's %d), mode %q, deadline %v (want the file's)", c.PoolSize, fanout.DefaultPoolSize, c.Mode, c.Deadline)
	}
}

// TestFileZeroReplacesTheDefault: a key the file gives replaces the
// default even when its value is zero, so a file can say "no grace".
func TestFileZeroReplacesTheDefault(t *testing.T) {
	c, err := Decode([]byte("grace: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Grace != 0 {
		t.Errorf("grace %v, want the file's 0s", c.Grace)
	}
	if c.Deadline != server.DefaultDeadline {
		t.Errorf("deadline %v, want the default a file without it keeps", c.Deadline)
	}
}

// TestBackendConnsFlags: -max-backend-conns names the backend connections
// apart from -max-client-conns; -max-conns, its old name, still works.
func TestBackendConnsFlags(t *testing.T) {
	for _, args := range [][]string{{"-max-backend-conns", "7"}, {"-max-conns", "7"}} {
		c, err := Parse(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxConns != 7 || c.MaxClientConns != server.DefaultMaxClientConns {
			t.Errorf("%v: backend conns %d, client conns %d", args, c.MaxConns, c.MaxClientConns)
		}
	}
}

// TestEveryKeyHasAFlag: each YAML key of Config, those of the embedded
// limits and backend options too, has a flag of the same name, shown by
// -h with its default, and the usage's example file names it: a setting
// added to the struct cannot be left out of the command line or the help.
func TestEveryKeyHasAFlag(t *testing.T) {
	var help bytes.Buffer
	if _, err := Parse([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	c := Default()
	var file string
	fs := c.flags(&file, io.Discard)
	keys := yamlKeys(reflect.TypeFor[Config]())
	if len(keys) < 15 {
		t.Fatalf("only %d keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		name := strings.ReplaceAll(key, "_", "-")
		if key == "backends" {
			name = "backend" // repeatable NAME=HOST:PORT
		}
		if fs.Lookup(name) == nil {
			t.Errorf("key %s has no flag -%s", key, name)
		}
		if !strings.Contains(help.String(), "  -"+name+" ") && !strings.Contains(help.String(), "  -"+name+"\n") {
			t.Errorf("-h does not show -%s", name)
		}
		if !strings.Contains(Usage(), "\n  "+key+":") {
			t.Errorf("the usage's example file lacks %s", key)
		}
	}
}

// yamlKeys lists the YAML keys of a struct type, inlined structs' included.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case opts == "inline":
			keys = append(keys, yamlKeys(f.Type)...)
		case name != "":
			keys = append(keys, name)
		}
	}
	return keys
}

// TestUsageShowsTheDefaults: the example file of -h is a valid file whose
// values are the defaults, so the help cannot drift from them.
func TestUsageShowsTheDefaults(t *testing.T) {
	text := Usage()
	_, example, ok := strings.Cut(text, "\nConfig file")
	if !ok {
		t.Fatalf("no example file in %q", text)
	}
	example, _, _ = strings.Cut(example, "\n\n")
	_, example, _ = strings.Cut(example, "\n") // the heading
	var file strings.Builder
	for line := range strings.Lines(example) {
		file.WriteString(strings.TrimPrefix(line, "  "))
	}
	c, err := Decode([]byte(file.String()))
	if err != nil {
		t.Fatalf("the example file: %v\n%s", err, file.String())
	}
	d := Default()
	c.Backends, d.Backends = nil, nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("the example file says\n%+v\nthe defaults are\n%+v", c, d)
	}
}
