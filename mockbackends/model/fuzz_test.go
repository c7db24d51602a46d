package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary files to Decode: it must never panic, and
// whatever it accepts must validate and survive a JSON round trip of each
// service through DecodeService.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("backends:\n  layers:\n    latency: fixed:1ms\n"))
	f.Add([]byte(`{"backends":{"results":{"faults":{"error":0.5}}}}`))
	f.Add([]byte("backends: &a\n  layers: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid config: %v", err)
		}
		for name, s := range c {
			b, err := jsonMarshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeService(b, name); err != nil {
				t.Fatalf("service %s does not round-trip: %s: %v", name, b, err)
			}
		}
	})
}

// FuzzParseLatency checks that the short form never panics, that what it
// accepts is valid, and that String gives a spec that parses back.
func FuzzParseLatency(f *testing.F) {
	for _, s := range []string{
		"none", "fixed:20ms", "20ms", "uniform:min=5ms,max=15ms", "normal:mean=20ms,stddev=5ms",
		"lognormal:p50=40ms,p99=200ms", "lognormal:p50=40ms,p99=200ms,spike=0.01@300ms", "none:spike=1@1ns",
		"fixed:", "uniform:min=1ms,min=2ms", "fixed:1ms,spike=@",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		l, err := ParseLatency(spec)
		if err != nil {
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseLatency(%q) accepted an invalid model: %v", spec, err)
		}
		back, err := ParseLatency(l.String())
		if err != nil || back.String() != l.String() {
			t.Fatalf("ParseLatency(%q).String() = %q does not round-trip: %v", spec, l.String(), err)
		}
		if d := l.Sample(nil); d < 0 {
			t.Fatalf("negative sample %v", d)
		}
	})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
