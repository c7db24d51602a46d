package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"fanout/bench/result"
)

// rounds makes rounds of 1000 requests from CPU per request in
// microseconds, each allocating allocs per request and all answered.
func rounds(allocs float64, micros ...int) []result.CostRound {
	var out []result.CostRound
	for _, us := range micros {
		out = append(out, result.CostRound{Requests: 1000, Success: 1, CPU: time.Duration(us) * time.Millisecond, Allocs: 1000 * allocs})
	}
	return out
}

func costFixture() *result.Cost {
	shipped := rounds(58, 420, 500, 200)
	// The third round was mostly refused: it does not count.
	shipped[2].Success = 0.78
	unknownAllocs := rounds(0, 400, 410, 420)
	for i := range unknownAllocs {
		unknownAllocs[i].Allocs = -1
	}
	return &result.Cost{Rate: 500, Duration: 1500 * time.Millisecond, Rounds: 3, Baseline: "off", Rows: []result.CostRow{
		{Name: "floor", Feature: "CPU floor", Floor: true, Rounds: rounds(15, 300, 320, 310)},
		{Name: "off", Feature: "every policy off", Rounds: rounds(44, 390, 400, 450)},
		{Name: "shipped", Feature: "as shipped | defaults", Rounds: shipped},
		{Name: "metrics", Rounds: unknownAllocs},
		{Name: "broken", Feature: "breakers", Error: "start gateway: exited"},
	}}
}

// TestCostTable renders the table of made-up rounds: medians with their
// range, ratios to the floor and to every policy off round by round
// (off/floor: 390/300, 400/320, 450/310 = 1.30, 1.25, 1.45), a
// round below 99 % success left out and counted apart, and a row that
// could not be measured.
func TestCostTable(t *testing.T) {
	want := `| feature | config | CPU/request (ms) | × floor | vs all off | allocs/request | rounds |
|---|---|---:|---:|---:|---:|---:|
| CPU floor | floor | 0.310 (0.300–0.320) |  | -23.1% (-31.1%–-20.0%) | 15.0 | 3/3 |
| every policy off | off | 0.400 (0.390–0.450) | 1.30× (1.25×–1.45×) |  | 44.0 | 3/3 |
| as shipped \| defaults | shipped | 0.420 (0.420–0.500) | 1.40× (1.40×–1.56×) | +7.7% (+7.7%–+25.0%) | 58.0 | 2/3 |
| metrics | metrics | 0.410 (0.400–0.420) | 1.33× (1.28×–1.35×) | +2.5% (-6.7%–+2.6%) | n/a | 3/3 |
| breakers | broken | not measured: start gateway: exited | | | | |
`
	if got := CostTable(costFixture()); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// TestFloorLineAndReport: the gateway's CPU beside the floor's is one
// line of the terminal summary and a section of the report.
func TestFloorLineAndReport(t *testing.T) {
	c := &result.Cost{Rate: 200, Duration: 750 * time.Millisecond, Rounds: 3, Rows: []result.CostRow{
		{Name: "gateway", Rounds: rounds(50, 520, 540, 600)},
		{Name: "floor", Floor: true, Rounds: rounds(15, 300, 320, 310)},
	}}
	line := FloorLine(c)
	want := "CPU per results page: gateway 0.540 (0.520–0.600) ms, floor 0.310 (0.300–0.320) ms: 1.73× (1.69×–1.94×) the floor's (3 interleaved rounds of 750ms at 200 req/s)"
	if line != want {
		t.Errorf("floor line:\n%s\nwant:\n%s", line, want)
	}
	var b bytes.Buffer
	if err := Markdown(&b, &result.Scenario{Name: "talk", Floor: c}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "## CPU beside the floor\n\n"+want+".") {
		t.Errorf("the report has no floor section with the line:\n%s", b.String())
	}
	var cost bytes.Buffer
	if err := Markdown(&cost, &result.Scenario{Name: "cost", Cost: costFixture()}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cost.String(), CostHeading+"\n\n") || !strings.Contains(cost.String(), CostTable(costFixture())) {
		t.Errorf("the cost report lacks its table:\n%s", cost.String())
	}
	if strings.Contains(cost.String(), "## Limits") {
		t.Errorf("the cost report shows latency limits:\n%s", cost.String())
	}
}

func TestReplaceSection(t *testing.T) {
	const h = CostHeading
	for _, c := range []struct {
		name, doc, want string
	}{
		// The section runs to the next heading of its level; a deeper
		// heading is part of it.
		{"middle", "# R\n\n" + h + "\n\nold\n### sub\nold\n\n## Next\n\nkept\n", "# R\n\n" + h + "\n\nnew\n\n## Next\n\nkept\n"},
		{"last", "# R\n\n" + h + "\n\nold\n", "# R\n\n" + h + "\n\nnew\n"},
	} {
		got, err := ReplaceSection(c.doc, h, h+"\n\nnew\n")
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := ReplaceSection("# R\n\n## What each feature costs, roughly\n", h, h+"\n"); err == nil {
		t.Error("replaced a section whose heading only starts like the one asked for")
	}
}

// TestCostSection heads the README's section with the machine, the load
// beside the run and the commit, local changes said.
func TestCostSection(t *testing.T) {
	c := costFixture()
	c.LoadAverage = 8.6
	s := &result.Scenario{Name: "cost", Cost: c, Started: time.Date(2026, 12, 7, 0, 32, 0, 0, time.UTC),
		Env: result.Env{CPU: "AMD EPYC", Cores: 2, GoVersion: "go1.26.8", Commit: "14278bd2fc7a0000", Dirty: true}}
	got := CostSection(s)
	want := CostHeading + "\n\nThe results page at 500 req/s, scenario `cost`, run 2026-12-07 00:32 UTC on AMD EPYC, 2 cores, " +
		"load average 8.6 as it began, go1.26.8, commit 14278bd2fc7a (with local changes).\n\n" + CostTable(c)
	if !strings.HasPrefix(got, want) {
		t.Errorf("section:\n%s\nwant it to start with:\n%s", got, want)
	}
	if CostSection(&result.Scenario{Name: "talk"}) != "" {
		t.Error("a scenario without a cost table has a cost section")
	}
}
