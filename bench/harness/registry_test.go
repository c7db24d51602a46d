package harness_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"fanout/bench/dist"
	"fanout/bench/figure"
	"fanout/bench/harness"
	"fanout/bench/load"
	"fanout/bench/report"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// fullRun is a run that carries every figure of the registry: enough
// requests for its tails, each part of the answers, the split, samples,
// policy counters and backend calls, all non-zero.
func fullRun(scale float64) result.Run {
	lat := func(ms float64) load.Latency {
		d := time.Duration(ms * scale * float64(time.Millisecond))
		return load.Latency{Dist: dist.Dist{P50: d, P90: 2 * d, P99: 3 * d, P999: 4 * d, Mean: d}, Max: 5 * d}
	}
	sum := load.Summary{Requests: 2 * load.MinSamples, Rate: 100 * scale, Throughput: 90 * scale, Success: 0.9,
		Complete: 0.8, Partial: 0.1, Failed: 0.1, Latency: lat(10), OKLatency: lat(9), FailedLatency: lat(2), RefusedLatency: lat(1)}
	policies := map[string]float64{}
	calls := map[string]int64{}
	for _, f := range figure.All {
		policies[f.Name] = 3 * scale
		if svc, ok := strings.CutPrefix(f.Name, "calls_per_request_"); ok {
			calls[svc] = int64(1000 * scale)
		}
	}
	return result.Run{Variant: "concurrent", Mode: "concurrent", Rate: 100,
		Report:        load.Report{Summary: sum, LatencySlope: 0.01 * scale, GeneratorCPUShare: 0.2 * scale},
		CPUPerRequest: time.Duration(scale * float64(time.Millisecond)), PeakRSS: int64(scale * (64 << 20)), RSSGrowth: int64(scale * (8 << 20)),
		GoroutineGrowth: int(20 * scale), CallsPerRequest: 4 * scale, BackendCalls: calls, Policies: policies,
		PagesCompared: int(10 * scale), PagesDiffering: int(scale),
		Samples: []result.Sample{{Goroutines: int(100 * scale)}}}
}

// TestEveryFigureIsKnownEverywhere walks the figure registry and checks
// that each figure can be named in an expectation and evaluated, that
// compare shows it (or the registry says why not), and that the report's
// call policies table has a column for each policy figure: a figure is
// one entry of the registry, and no part of the bench can forget it.
func TestEveryFigureIsKnownEverywhere(t *testing.T) {
	a, b := fullRun(1), fullRun(3)
	limits := &dist.Limits{CriticalPath: dist.Dist{P50: time.Millisecond, P90: time.Millisecond, P99: time.Millisecond, P999: time.Millisecond, Mean: time.Millisecond}}
	resA := &result.Scenario{Name: "registry", Limits: limits, Runs: []result.Run{a}}
	resB := &result.Scenario{Name: "registry", Limits: limits, Runs: []result.Run{b}}
	var cmp bytes.Buffer
	if err := report.Compare(&cmp, resA, resB, "A", "B"); err != nil {
		t.Fatalf("compare: %v", err)
	}
	var md bytes.Buffer
	if err := report.Markdown(&md, resA, nil); err != nil {
		t.Fatalf("markdown: %v", err)
	}
	doc, err := os.ReadFile("../../scenarios/README.md")
	if err != nil {
		t.Fatalf("the scenarios' documentation: %v", err)
	}
	columns, names := map[string]string{}, map[string]bool{}
	for _, f := range figure.All {
		t.Run(f.Name, func(t *testing.T) {
			if names[f.Name] {
				t.Errorf("declared twice")
			}
			names[f.Name] = true
			if _, ok := figure.Lookup(f.Name); !ok {
				t.Errorf("not found by its name")
			}
			if f.Description == "" || f.Get == nil {
				t.Errorf("no description or no getter")
			}
			src := fmt.Sprintf("gateway: {modes: [concurrent]}\ntargets: [{path: /v2/experiments/1/results}]\nload: {rates: [100], duration: 5s}\nexpect: [concurrent.%s >= 0]\n", f.Name)
			s, err := scenario.Decode(strings.NewReader(src), "registry.yaml")
			if err != nil {
				t.Fatalf("an expectation cannot name it: %v", err)
			}
			n := s.Expect[0].Names()[0]
			want, err := f.Get(figure.Source{Run: &a, Sum: a.Summary, Limits: limits})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if got, err := harness.Value(resA, n, 100); err != nil || got != want {
				t.Errorf("evaluated as %v, %v: want %v", got, err, want)
			}
			if want == 0 && !strings.HasPrefix(f.Name, "calls_per_request_") {
				t.Errorf("0 in a run that has every figure: the test's run misses it")
			}
			switch {
			case f.Column == "" && f.NotShown == "":
				t.Errorf("no column in the report and compare, and no reason why")
			case f.Column != "" && f.NotShown != "":
				t.Errorf("column %q, yet NotShown says %q", f.Column, f.NotShown)
			case f.Column != "":
				if other, dup := columns[f.Column]; dup {
					t.Errorf("column %q is %s's too", f.Column, other)
				}
				columns[f.Column] = f.Name
				if f.Digits < 0 || f.Digits > 3 {
					t.Errorf("%d digits: compare formats 0 to 3", f.Digits)
				}
				if !strings.Contains(cmp.String(), "  "+f.Column+"  ") {
					t.Errorf("compare has no row %q:\n%s", f.Column, cmp.String())
				}
			}
			if !strings.HasPrefix(f.Name, "calls_per_request_") && !strings.Contains(string(doc), "`"+f.Name+"`") {
				t.Errorf("scenarios/README.md does not document it")
			}
			if f.Policy && !strings.Contains(md.String(), " "+strings.ReplaceAll(f.Name, "_", " ")+" |") {
				t.Errorf("the call policies table has no column of it:\n%s", md.String())
			}
		})
	}
}
