package report

import (
	"strings"
	"testing"

	"fanout/bench/result"
)

// TestPoliciesTable checks that report.md shows what the call policies did
// in each run, and nothing when no run has such figures.
func TestPoliciesTable(t *testing.T) {
	s := &result.Scenario{Runs: []result.Run{
		{Variant: "hedged", Mode: "concurrent", Rate: 200, Policies: map[string]float64{"hedges_sent": 101, "hedges_won": 69}},
		{Variant: "unhedged", Mode: "concurrent", Rate: 200, PagesCompared: 180},
	}}
	var b strings.Builder
	writePolicies(&b, s)
	for _, want := range []string{"## Call policies", "| hedged | 200 | 0 | 101 | 69 | 0 | 0 | 0 | 0 | 0 |", "| unhedged | 200 | 0 | 0 | 0 | 0 | 0 | 0 | 180 | 0 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	var none strings.Builder
	writePolicies(&none, &result.Scenario{Runs: []result.Run{{Variant: "concurrent", Rate: 50}}})
	if none.Len() != 0 {
		t.Errorf("a scenario without policies got a table:\n%s", none.String())
	}
}
