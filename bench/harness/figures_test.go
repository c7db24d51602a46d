package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

func msd(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// outcome is a made-up result of the scenario below.
func outcome() *result.Scenario {
	run := func(v string, rate, p50, thr float64) result.Run {
		sum := load.Summary{Requests: 100, Throughput: thr, Success: 0.98,
			Latency: load.Latency{Dist: dist.Dist{P50: msd(p50), P99: msd(2 * p50)}}, Codes: map[string]int{"200": 98, "504": 2}}
		return result.Run{Variant: v, Rate: rate, Report: load.Report{Summary: sum,
			Phases: map[string]load.Summary{"before": sum, "degraded": {Requests: 10, Codes: map[string]int{"504": 10}}}},
			CPUPerRequest: 500 * time.Microsecond, PeakRSS: 32 << 20, CallsPerRequest: 4}
	}
	return &result.Scenario{
		Limits: &dist.Limits{CriticalPath: dist.Dist{P50: msd(40), P99: msd(45)}, Sum: dist.Dist{P50: msd(85), P99: msd(90)}},
		Runs: []result.Run{
			run("concurrent", 50, 41, 50), run("concurrent", 200, 43, 199),
			run("blocking", 50, 900, 11), run("blocking", 200, 2000, 12),
		},
	}
}

const scenarioSrc = `
gateway: {modes: [concurrent, blocking]}
targets: [{path: /v2/experiments/1/results}]
load: {rates: [50, 200], duration: 5s}
events: [{at: 1s, name: degraded, service: results, set: {latency: fixed:3s}}]
expect:
  - concurrent.p50 <= 1.05 * critical_path
  - blocking.throughput < 0.2 * concurrent.throughput
  - concurrent@200.p99 < 80ms
  - concurrent.degraded.code_504 == 100%
  - concurrent.cpu_per_request < 1
  - concurrent.ratio_p50 < 1.1
  - sum > 2 * critical_path
  - blocking@50.p50 < critical_path
`

func TestEvaluate(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(scenarioSrc), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := evaluate(s, outcome())
	want := []struct {
		pass   bool
		detail string
	}{
		// Evaluated at each rate: 41 <= 42 and 43 <= 42 fails at 200.
		{false, "@50: 41.00 <= 42.00; @200: 43.00 <= 42.00"},
		// Paired by rate: 11 < 10 fails at 50, 12 < 39.8 holds at 200.
		{false, "@50: 11.00 < 10.00; @200: 12.00 < 39.80"},
		// A pinned rate is evaluated once: p99 at 200 is 2*43.
		// A p99 of 100 requests neither holds nor fails (see
		// TestUndecidedExpectations).
		{false, "86.00 < 80.00 (not enough data: concurrent@200.p99 on 100 requests, fewer than 1000)"},
		// A phase's figures; percent is a fraction.
		{true, "@50: 1.00 == 1.00; @200: 1.00 == 1.00"},
		{true, "@50: 0.5 < 1.00; @200: 0.5 < 1.00"},
		// Ratios to the critical path: 41/40 and 43/40.
		{true, "@50: 1.02 < 1.10; @200: 1.07 < 1.10"},
		{true, "85.00 > 80.00"},
		{false, "900.0 < 40.00"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d verdicts, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Pass != w.pass || g.Detail != w.detail {
			t.Errorf("%s: pass=%v %q, want pass=%v %q", g.Source, g.Pass, g.Detail, w.pass, w.detail)
		}
	}
}

func TestEvaluateMissingFigures(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(scenarioSrc), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := outcome()
	res.Limits, res.LimitsNote = nil, "spec unreachable"
	res.Runs = res.Runs[:1] // only concurrent at 50 ran
	got := evaluate(s, res)
	if got[0].Pass || !strings.Contains(got[0].Detail, "no limits (spec unreachable)") {
		t.Errorf("without limits: %+v", got[0])
	}
	if got[1].Pass || got[1].Verdict != result.Fails || !strings.Contains(got[1].Detail, "no run of blocking at 50 req/s") {
		t.Errorf("without a run: %+v", got[1])
	}
}

// TestUndecidedExpectations: an expectation on a p99 of too few requests,
// or on a step an interrupted run never reached, neither holds nor fails;
// one on a step whose answers were mostly client errors fails, whatever
// its figures.
func TestUndecidedExpectations(t *testing.T) {
	src := `
gateway: {modes: [concurrent, blocking]}
targets: [{path: /v2/experiments/1/results}]
load: {rates: [50], duration: 5s}
expect:
  - concurrent.p99 < 1s
  - concurrent.p50 < 1s
  - blocking.p50 < 1s
  - concurrent.ratio_p99 < 100
`
	s, err := scenario.Decode(strings.NewReader(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	step := func(v string, requests int, codes map[string]int) result.Run {
		return result.Run{Variant: v, Rate: 50, Report: load.Report{Summary: load.Summary{Requests: requests, Codes: codes,
			Latency: load.Latency{Dist: dist.Dist{P50: msd(41), P99: msd(45)}}}}}
	}
	limit := &dist.Limits{CriticalPath: dist.Dist{P50: msd(40), P99: msd(45)}}
	tests := []struct {
		name string
		res  *result.Scenario
		want []string // the verdict of each expectation
	}{
		// Enough requests, every answer 200, both modes ran: all hold.
		{"decided", &result.Scenario{Limits: limit, Runs: []result.Run{
			step("concurrent", 1000, map[string]int{"200": 1000}), step("blocking", 1000, map[string]int{"200": 1000})}},
			[]string{result.Holds, result.Holds, result.Holds, result.Holds}},
		// 200 requests: the p99s are not enough data; the p50 holds.
		{"thin p99", &result.Scenario{Limits: limit, Runs: []result.Run{
			step("concurrent", 200, map[string]int{"200": 200}), step("blocking", 200, map[string]int{"200": 200})}},
			[]string{result.NotEnoughData, result.Holds, result.Holds, result.NotEnoughData}},
		// Interrupted before blocking ran: not run, not FAILED.
		{"interrupted", &result.Scenario{Limits: limit, Interrupted: true, Runs: []result.Run{
			step("concurrent", 1000, map[string]int{"200": 1000})}},
			[]string{result.Holds, result.Holds, result.NotRun, result.Holds}},
		// Mostly 404s (a wrong path, unknown ids): every expectation on
		// concurrent fails, though its latencies are within bounds; a
		// few 404s among 200s (soak's unknown ids) are fine.
		{"mostly client errors", &result.Scenario{Limits: limit, Runs: []result.Run{
			step("concurrent", 1000, map[string]int{"404": 900, "200": 100}), step("blocking", 1000, map[string]int{"200": 950, "404": 50})}},
			[]string{result.Fails, result.Fails, result.Holds, result.Fails}},
	}
	for _, tt := range tests {
		got := evaluate(s, tt.res)
		for i, e := range got {
			if e.Verdict != tt.want[i] || e.Pass != (tt.want[i] == result.Holds) {
				t.Errorf("%s: %s: verdict %q pass %v (%s), want %q", tt.name, e.Source, e.Verdict, e.Pass, e.Detail, tt.want[i])
			}
		}
		tt.res.Expectations = got
		failed := 0
		for _, v := range tt.want {
			if v == result.Fails {
				failed++
			}
		}
		if n := len(tt.res.Failed()); n != failed {
			t.Errorf("%s: %d failed, want %d", tt.name, n, failed)
		}
	}
	res := tests[3].res
	if d := res.Expectations[1].Detail; !strings.Contains(d, "concurrent: 90% of the answers were client errors (404:900)") {
		t.Errorf("the detail does not say why: %s", d)
	}
	if v := tests[2].res.Verdict(); v != "3 of 4 expectations hold; 1 not run" {
		t.Errorf("verdict %q", v)
	}
	if v := tests[1].res.Verdict(); v != "2 of 4 expectations hold; 2 not enough data" {
		t.Errorf("verdict %q", v)
	}
}

func TestCapacityFigures(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [concurrent, blocking]}
targets: [{path: /x}]
load: {capacity: {p99: 100ms}}
expect: [concurrent.capacity > 10 * blocking.capacity, concurrent.p99 < 100ms]
`), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := &result.Scenario{
		Capacity: []result.Capacity{
			{Variant: "concurrent", Result: capacity.Result{Capacity: 800}},
			{Variant: "blocking", Result: capacity.Result{Capacity: 12.5}},
		},
		Runs: []result.Run{{Variant: "concurrent", Rate: 800, Probe: true, Report: load.Report{Summary: load.Summary{Requests: 2000, Latency: load.Latency{Dist: dist.Dist{P99: msd(60)}}}}}},
	}
	got := evaluate(s, res)
	if !got[0].Pass || got[0].Detail != "800.0 > 125.0" {
		t.Errorf("capacity ratio: %+v", got[0])
	}
	// Other figures of a capacity search are those of the highest passing
	// probe.
	if !got[1].Pass || got[1].Detail != "60.00 < 100.0" {
		t.Errorf("figure at capacity: %+v", got[1])
	}
}

func TestRoundRate(t *testing.T) {
	for in, want := range map[float64]float64{37.5: 38, 1234.4: 1234, 6.25: 6.3, 0.44: 0.4} {
		if got := roundRate(in); got != want {
			t.Errorf("roundRate(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestEvaluateLevelsAndCompleteAnswers(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [staged]}
targets: [{path: /v2/experiments/1/results}]
load: {rates: [100]}
expect:
  - staged.p50 <= 1.1 * levels
  - staged.complete >= 99%
  - staged.partial < 1%
  - staged.failed == 0
  - staged.throughput <= staged.achieved_rate
`), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := &result.Scenario{
		Limits: &dist.Limits{CriticalPath: dist.Dist{P50: msd(40)}, Levels: dist.Dist{P50: msd(55)}, Sum: dist.Dist{P50: msd(85)}},
		Runs: []result.Run{{Variant: "staged", Mode: "staged", Rate: 100, Report: load.Report{Summary: load.Summary{
			Requests: 1000, Rate: 99.9, Throughput: 98.9, Success: 0.995, Complete: 0.99, Partial: 0.005, Failed: 0.005,
			Latency: load.Latency{Dist: dist.Dist{P50: msd(57)}}}}}},
	}
	got := evaluate(s, res)
	want := []struct {
		pass   bool
		detail string
	}{
		{true, "57.00 <= 60.50"},
		{true, "0.99 >= 0.99"},
		{true, "0.005 < 0.01"},
		{false, "0.005 == 0"},
		{true, "98.90 <= 99.90"},
	}
	for i, w := range want {
		if got[i].Pass != w.pass || got[i].Detail != w.detail {
			t.Errorf("%s: pass %v %q, want %v %q", got[i].Source, got[i].Pass, got[i].Detail, w.pass, w.detail)
		}
	}
}

func TestFiguresLine(t *testing.T) {
	lim := &dist.Limits{CriticalPath: dist.Dist{P50: msd(40)}, Levels: dist.Dist{P50: msd(55)}, Uncertainty: 0.004}
	step := func(mode string, p50 float64, requests int, sent float64) result.Run {
		return result.Run{Variant: mode, Mode: mode, Rate: 6400, GeneratorLimited: sent < load.GeneratorLimit*6400,
			Report: load.Report{Summary: load.Summary{Requests: requests, Rate: sent, Success: 0.017, Complete: 0.005, Partial: 0.012, Failed: 0.983,
				Latency: load.Latency{Dist: dist.Dist{P50: msd(p50), P99: msd(2 * p50)}}}, GeneratorCPUShare: 0.4}}
	}
	tests := []struct {
		name        string
		run         result.Run
		want, never []string
	}{
		// Success is named so, with the complete, partial and failed
		// split, and the achieved rate beside the offered one.
		{"split", step("concurrent", 41, 20000, 6400),
			[]string{"success 1.70%", "complete 0.50%", "partial 1.20%", "failed 98.30%", "6400/6400 req/s sent", "load cpu 40%", "p50/critical 1.02"},
			[]string{"ok ", "GENERATOR", "uncertainty", "levels"}},
		// A generator that sent 75 % is flagged.
		{"generator-limited", step("concurrent", 41, 20000, 4800),
			[]string{"4800/6400 req/s sent", "GENERATOR-LIMITED (sent 75% of the offered rate)"}, nil},
		// A p50 under the unbeatable limit is no win: 2 % under a
		// sampled limit is sampling, the limit's (±0.4 %, as it is,
		// not inflated to 2 %) and the run's.
		{"under the limit", step("concurrent", 39.2, 20000, 6400),
			[]string{"p50/critical 0.98 (within the sampling of the limit (±0.4%) and of the run)"}, nil},
		// 16 % under is beyond any sampling: the limit is wrong.
		{"far under the limit", step("concurrent", 33.6, 20000, 6400),
			[]string{"p50/critical 0.84 (16% under the limit, beyond its uncertainty of ±0.4%: the limit does not describe this run)"}, []string{"within"}},
		// Staged stands beside its own limit too.
		{"staged", step("staged", 56, 20000, 6400), []string{"p50/levels 1.02"}, nil},
		// A p99 of too few requests is not a figure.
		{"few requests", step("blocking", 900, 22, 6400), []string{"p99 n/a (not enough data: 22 < 1000 requests)"}, nil},
		// A run whose rate drops offers the mean, to a tenth, and
		// sending it is no shortfall.
		{"rate dropped", func() result.Run {
			r := step("concurrent", 41, 20000, 152)
			r.Rate, r.Summary.Offered, r.GeneratorLimited = 200, 3500.0/23, false
			return r
		}(), []string{"152/152.2 req/s sent"}, []string{"GENERATOR", "152.17"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := figuresLine(tc.run, lim)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(got, n) {
					t.Errorf("%q has %q", got, n)
				}
			}
		})
	}
}

func TestProgressShowsWarmupApart(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, nil)
	p.run("concurrent", 200, 500*time.Millisecond, 2*time.Second)
	if got := buf.String(); !strings.Contains(got, "warm-up 500ms + measure 2s") {
		t.Errorf("progress line %q does not show warm-up and measurement apart", got)
	}
}

func TestCapacityLine(t *testing.T) {
	for _, tc := range []struct {
		c    result.Capacity
		want string
	}{
		{result.Capacity{Variant: "pool", Result: capacity.Result{Capacity: 150, HeldFor: 10 * time.Second, Ceiling: 188}},
			"pool capacity: 150 req/s, held for 10s (first failure at 188 req/s)"},
		{result.Capacity{Variant: "concurrent", Result: capacity.Result{Capacity: 400, HeldFor: 3 * time.Second}},
			"concurrent capacity: 400 req/s, held for 3s (no failure up to the search's max)"},
		{result.Capacity{Variant: "blocking", Result: capacity.Result{Floor: 102}},
			"blocking capacity: below 102 req/s, not enough samples"},
		{result.Capacity{Variant: "blocking", Result: capacity.Result{Exhausted: true, Ceiling: 100}},
			"blocking capacity: below 100 req/s, where every probe failed"},
		{result.Capacity{Variant: "pool", Result: capacity.Result{Exhausted: true, Searched: 188}},
			"pool capacity: no rate held within the budget (short probes passed up to 188 req/s)"},
	} {
		if got := CapacityLine(tc.c); !strings.HasPrefix(got, tc.want) {
			t.Errorf("got %q, want it to start with %q", got, tc.want)
		}
	}
}

func TestInterruptedKeepsFinishedSteps(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	var wrote *result.Scenario
	s := &scenario.Scenario{Name: "talk"}
	r := &runner{s: s, dir: dir, p: newProgress(&out, nil),
		res:  &result.Scenario{Name: "talk", Runs: []result.Run{{Variant: "concurrent", Rate: 50}}},
		opts: Options{Write: func(dir string, s *result.Scenario) error { wrote = s; return nil }}}
	res, err := r.interrupted(time.Now(), os.ErrDeadlineExceeded)
	if err == nil || res == nil {
		t.Fatalf("interrupted returned %v, %v: want the result and the cause", res, err)
	}
	got, err := result.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Interrupted || len(got.Runs) != 1 || wrote == nil || !wrote.Interrupted {
		t.Errorf("summary.json: interrupted %v with %d runs; report written: %v", got.Interrupted, len(got.Runs), wrote != nil)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "INTERRUPTED") || !strings.Contains(line, dir) {
		t.Errorf("terminal: %q, want one line that names the directory", line)
	}
	if _, err := os.Stat(filepath.Join(dir, result.SummaryFile)); err != nil {
		t.Error(err)
	}
}

func TestEachExecutionDrawsItsOwnSeed(t *testing.T) {
	a, b := scenarioSeed(0), scenarioSeed(0)
	if a == 0 || a == b {
		t.Errorf("two executions seeded %d and %d: want two fresh seeds", a, b)
	}
	if got := scenarioSeed(7); got != 7 {
		t.Errorf("a given seed became %d", got)
	}
}

func TestRateIsEachPhasesOwn(t *testing.T) {
	// A run at 400 req/s whose rate drops to 100 at 12 s of 15: the rate
	// of a phase is its own, that of the run the mean, and a result
	// written before the offered rate was recorded gives the run's rate.
	const src = `
gateway: {modes: [concurrent]}
targets: [{path: /v2/experiments/1/results}]
load: {rates: [400], duration: 15s}
events: [{at: 12s, name: calm, rate: 100}]
expect:
  - concurrent.calm.rate == 100
  - concurrent.before.rate == 400
  - concurrent.rate == 340
  - concurrent.calm.achieved_rate >= 0.97 * concurrent.calm.rate
`
	s, err := scenario.Decode(strings.NewReader(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sum := func(offered, achieved float64) load.Summary {
		return load.Summary{Requests: 100, Offered: offered, Rate: achieved}
	}
	run := result.Run{Variant: "concurrent", Rate: 400, Report: load.Report{Summary: sum(340, 339),
		Phases: map[string]load.Summary{"before": sum(400, 399), "calm": sum(100, 99)}}}
	for _, v := range evaluate(s, &result.Scenario{Runs: []result.Run{run}}) {
		if !v.Pass {
			t.Errorf("%s: %s", v.Source, v.Detail)
		}
	}
	old := result.Run{Variant: "concurrent", Rate: 400, Report: load.Report{Summary: sum(0, 399)}}
	if old.OfferedRate() != 400 || old.PhaseRate(load.Summary{}) != 400 {
		t.Errorf("a result without offered rates: %v and %v, want the run's 400", old.OfferedRate(), old.PhaseRate(load.Summary{}))
	}
}

// TestBelowLimitSaysWhatTheLimitLeavesOut: a run under its limit is told
// apart by why: shared calls the limit leaves out, a fixed limit that has
// no uncertainty, a sampled one within or beyond sampling.
func TestBelowLimitSaysWhatTheLimitLeavesOut(t *testing.T) {
	fixed := &dist.Limits{Fixed: true}
	sampled := &dist.Limits{Uncertainty: 0.01}
	coalesced := &result.Run{Policies: map[string]float64{"coalesced_calls": 3711}}
	tests := []struct {
		name  string
		run   *result.Run
		ratio float64
		l     *dist.Limits
		want  string
	}{
		// hot-keys: coalesced pages share one experiment call, which
		// the limit, a page making its own calls, leaves out.
		{"coalesced", coalesced, 0.85, fixed, "15% under the limit, which leaves out shared calls (3711 coalesced calls): it assumes every page makes its own"},
		// The same figure without shared calls: a fixed limit has no
		// uncertainty to hide behind.
		{"fixed", &result.Run{}, 0.85, fixed, "15% under a fixed limit, which has no uncertainty: the limit does not describe this run"},
		{"sampled, close", &result.Run{}, 0.97, sampled, "within the sampling of the limit (±1.0%) and of the run"},
		{"sampled, far", &result.Run{}, 0.85, sampled, "15% under the limit, beyond its uncertainty of ±1.0%: the limit does not describe this run"},
		// At or over the limit there is nothing to explain.
		{"over", coalesced, 1.02, fixed, ""},
	}
	for _, tt := range tests {
		if got := tt.run.BelowLimit(tt.ratio, tt.l); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
