package harness

import (
	"strings"
	"testing"
	"time"

	"fanout/bench/result"
	"fanout/bench/scenario"
)

const costSrc = `
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
cost:
  rate: 100
  rounds: 3
  baseline: off
  configs:
    - {name: floor, floor: true}
    - {name: off, flags: -auth off}
    - {name: shipped}
    - {name: broken, flags: -hedge-budget 7}
expect:
  - floor.cpu_per_request < off.cpu_per_request
  - shipped.cpu_ratio <= 1.5
  - off.allocs_per_request < 40
  - broken.cpu_ratio < 2
`

// costRounds makes rounds of 1000 requests each from CPU per request in
// microseconds, each allocating allocs per request and all answered.
func costRounds(allocs float64, micros ...int) []result.CostRound {
	var out []result.CostRound
	for _, us := range micros {
		out = append(out, result.CostRound{Requests: 1000, Success: 1, CPU: time.Duration(us) * time.Millisecond, Allocs: 1000 * allocs})
	}
	return out
}

// TestEvaluateCost: a cost scenario's names are a configuration's medians,
// judged once, and a configuration that was not measured fails its
// expectations with the reason.
func TestEvaluateCost(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(costSrc), "cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := &result.Scenario{Cost: &result.Cost{Rate: 100, Rounds: 3, Baseline: "off", Rows: []result.CostRow{
		{Name: "floor", Floor: true, Rounds: costRounds(15, 300, 320, 310)},
		{Name: "off", Rounds: costRounds(44, 390, 400, 450)},
		// Round by round 420/300, 500/320, 480/310: 1.40, 1.5625, 1.548.
		{Name: "shipped", Rounds: costRounds(58, 420, 500, 480)},
		{Name: "broken", Error: "start gateway: exited"},
	}}}
	got := evaluate(s, res)
	want := []struct {
		pass   bool
		detail string
	}{
		{true, "0.31 < 0.4"},
		{false, "1.55 <= 1.50"},
		{false, "44.00 < 40.00"},
		{false, "error: broken.cpu_ratio: broken was not measured: start gateway: exited"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d verdicts, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.Pass != w.pass || g.Detail != w.detail {
			t.Errorf("%s: pass=%v %q, want pass=%v %q", g.Source, g.Pass, g.Detail, w.pass, w.detail)
		}
	}
}
