package servertiming

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tm, err := Parse("experiment;dur=20.41;start=0.02, layer;dur=15.30;start=20.50", "results;desc=\"x\";dur=40;start=0, total;dur=40.92")
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Calls) != 3 || tm.Total != 40920*time.Microsecond {
		t.Fatalf("got %+v", tm)
	}
	l := tm.Calls[1]
	if l.Name != "layer" || l.Duration != 15300*time.Microsecond || l.Start != 20500*time.Microsecond || !l.HasStart {
		t.Fatalf("layer entry %+v", l)
	}
	if tm.End() != 40*time.Millisecond {
		t.Fatalf("end %v", tm.End())
	}
}

func TestParseErrors(t *testing.T) {
	for _, v := range []string{"a;dur=x", ";dur=1", "a;start=-1", "a;dur=1e20"} {
		if _, err := Parse(v); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", v)
		}
	}
	// An entry without parameters is allowed (a bare metric name).
	if tm, err := Parse("cache"); err != nil || len(tm.Calls) != 1 {
		t.Errorf("bare name: %+v %v", tm, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("experiment;dur=20.41;start=0.02, total;dur=40.92")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := Parse(s)
		if err != nil {
			return
		}
		for _, c := range tm.Calls {
			if c.Duration < 0 || c.Start < 0 {
				t.Fatalf("negative timing from %q: %+v", s, c)
			}
		}
	})
}
