package harness

import (
	"testing"

	"fanout/bench/figure"
	"fanout/bench/load"
	"fanout/bench/result"
)

// TestComparePages checks that a run's pages are compared with the pages
// of the same URLs in earlier runs at the same rate only, and that a
// difference there or within the run counts.
func TestComparePages(t *testing.T) {
	run := func(rate float64, bodies map[string]uint64, within int) result.Run {
		return result.Run{Rate: rate, Report: load.Report{Bodies: bodies, BodiesDiffering: within}}
	}
	earlier := []result.Run{
		run(100, map[string]uint64{"/a": 1, "/b": 2, "/c": 3}, 0),
		run(200, map[string]uint64{"/d": 9}, 0), // another rate: not compared
		run(100, nil, 0),                        // no bodies kept
	}
	r := run(100, map[string]uint64{"/a": 1, "/b": 7, "/d": 4}, 1)
	comparePages(&r, earlier)
	if r.PagesCompared != 2 || r.PagesDiffering != 2 {
		t.Errorf("compared %d, differing %d: want 2 (/a, /b) and 2 (/b, one within the run)", r.PagesCompared, r.PagesDiffering)
	}
	get := func(name string) float64 {
		f, ok := figure.Lookup(name)
		if !ok {
			t.Fatalf("no figure %s", name)
		}
		v, err := f.Get(figure.Source{Run: &r})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	if v := get("pages_differing"); v != 2 {
		t.Errorf("pages_differing %v", v)
	}
	r.Requests = 4
	r.BackendCalls = map[string]int64{"experiments": 2}
	if v := get("calls_per_request_experiments"); v != 0.5 {
		t.Errorf("calls_per_request_experiments %v, want 0.5", v)
	}
}

// TestPolicyDelta checks that the policy counters of a run are what the
// gateway counted during it.
func TestPolicyDelta(t *testing.T) {
	d := policyDelta(map[string]float64{"hedges_sent": 10}, map[string]float64{"hedges_sent": 15, "hedges_won": 3})
	if d["hedges_sent"] != 5 || d["hedges_won"] != 3 {
		t.Errorf("delta %v", d)
	}
	if policyDelta(nil, map[string]float64{"hedges_sent": 1}) != nil {
		t.Error("a failed read gave figures")
	}
}
