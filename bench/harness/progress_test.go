package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/limits"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

func TestFiguresLine(t *testing.T) {
	lim := &limits.Limits{CriticalPath: limits.Dist{P50: msd(40)}, Levels: limits.Dist{P50: msd(55)}, Uncertainty: 0.004}
	step := func(mode string, p50 float64, requests int, sent float64) result.Run {
		return result.Run{Variant: mode, Mode: mode, Rate: 6400, GeneratorLimited: sent < load.GeneratorLimit*6400,
			Report: load.Report{Summary: load.Summary{Requests: requests, Rate: sent, Success: 0.017, Complete: 0.005, Partial: 0.012, Failed: 0.983,
				Latency: load.Latency{P50: msd(p50), P99: msd(2 * p50)}}, GeneratorCPUShare: 0.4}}
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
		// A p50 under the unbeatable limit is no win.
		{"under the limit", step("concurrent", 39.2, 20000, 6400),
			[]string{"p50/critical 0.98 (within the limit's uncertainty"}, nil},
		// Staged stands beside its own limit too.
		{"staged", step("staged", 56, 20000, 6400), []string{"p50/levels 1.02"}, nil},
		// A p99 of too few requests is not a figure.
		{"few requests", step("blocking", 900, 22, 6400), []string{"p99 n/a (not enough data: 22 < 1000 requests)"}, nil},
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
