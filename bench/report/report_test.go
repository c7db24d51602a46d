package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/servertiming"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func msd(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// fixture is a small talk-like result: two modes at two rates, one failed
// expectation, limits of fixed models.
func fixture() *result.Scenario {
	lim := dist.Limits{Fixed: true,
		CriticalPath: dist.Dist{P50: msd(40), P90: msd(40), P99: msd(40), P999: msd(40), Mean: msd(40)},
		Levels:       dist.Dist{P50: msd(55), P90: msd(55), P99: msd(55), P999: msd(55), Mean: msd(55)},
		Sum:          dist.Dist{P50: msd(85), P90: msd(85), P99: msd(85), P999: msd(85), Mean: msd(85)},
	}
	run := func(v string, rate float64, p50 float64, success float64) result.Run {
		n := int(rate * 5)
		ok := int(float64(n) * success)
		codes := map[string]int{"200": ok}
		var errs map[string]int
		if ok < n {
			codes["504"] = n - ok
			errs = map[string]int{"http_504": n - ok}
		}
		return result.Run{
			Variant: v, Mode: v, Rate: rate, File: v + ".bin",
			Report: load.Report{
				Summary: load.Summary{Requests: n, Rate: rate, Throughput: rate * success, Success: success, Complete: success, Failed: 1 - success,
					Window: 5 * time.Second, Span: 5 * time.Second,
					Latency: load.Latency{Dist: dist.Dist{P50: msd(p50), P90: msd(p50 * 1.05), P99: msd(p50 * 1.2), P999: msd(p50 * 1.5), Mean: msd(p50)}, Max: msd(p50 * 2)},
					Codes:   codes, Errors: errs},
				Timing: &servertiming.Timing{Total: msd(p50), Calls: []servertiming.Entry{
					{Name: "experiment", Start: 0, Duration: msd(20), HasStart: true},
					{Name: "results", Start: 0, Duration: msd(40), HasStart: true},
				}},
				Timeline: []load.Bucket{{Offset: 0, Requests: 10, Success: 1, P50: msd(p50), P99: msd(p50)}, {Offset: time.Second, Requests: 10, Success: success, P50: msd(p50), P99: msd(p50 * 2)}},
			},
			Warmup: time.Second,
			CPU:    time.Duration(n) * 400 * time.Microsecond, CPUPerRequest: 400 * time.Microsecond,
			PeakRSS: 24 << 20, CallsPerRequest: 4, BackendCalls: map[string]int64{"experiments": int64(n)},
		}
	}
	return &result.Scenario{
		Name: "talk", Description: "Fixed 20/15/10/40 ms backends.", File: "scenarios/talk.yaml",
		Started: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC), Elapsed: 95 * time.Second,
		Env:      result.Env{CPU: "Test CPU @ 2.0GHz", Cores: 2, GoVersion: "go1.26.8", OS: "linux/amd64", Commit: "0123456789abcdef"},
		Variants: []string{"sequential", "concurrent"},
		Rates:    []float64{50, 200},
		Limits:   &lim,
		Runs: []result.Run{
			run("sequential", 50, 86.5, 1), run("sequential", 200, 90, 0.99),
			run("concurrent", 50, 41.2, 1), run("concurrent", 200, 41.8, 1),
		},
		Expectations: []result.Expectation{
			{Source: "concurrent.p50 <= 1.05 * critical_path", Pass: true, Detail: "@50: 41.20 <= 42.00; @200: 41.80 <= 42.00"},
			{Source: "sequential.success >= 99.9%", Pass: false, Detail: "@50: 1 >= 0.999; @200: 0.99 >= 0.999"},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", name, got)
	}
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	charts := []Chart{{File: "percentiles.svg", Title: "Latency percentiles by mode at 50 req/s"}}
	if err := Markdown(&b, fixture(), charts); err != nil {
		t.Fatal(err)
	}
	golden(t, "talk.md", b.Bytes())
	// Failed expectations come before every table.
	out := b.String()
	if f, tbl := strings.Index(out, "FAILED"), strings.Index(out, "| mode |"); f < 0 || f > tbl {
		t.Error("the failed expectations are not at the top")
	}
}

func TestMarkdownCapacityGolden(t *testing.T) {
	s := fixture()
	s.Name, s.Rates, s.Expectations = "capacity", nil, nil
	for i := range s.Runs {
		s.Runs[i].Probe = true
	}
	c := result.Capacity{Variant: "concurrent", Mode: "concurrent", Result: capacity.Result{Capacity: 800, Ceiling: 900,
		Points: []capacity.Point{{Rate: 200, P99: msd(49), Success: 1, Pass: true}, {Rate: 800, P99: msd(60), Success: 1, Pass: true}, {Rate: 900, P99: msd(900), Success: 0.9}}}}
	c.SLO.P99, c.SLO.Success = msd(100), 0.999
	// A pool of 16, as in scenarios/capacity.yaml: its tables name its size.
	pool := result.Capacity{Variant: "pool", Mode: "pool", PoolSize: 16, Result: capacity.Result{Capacity: 150, HeldFor: 10 * time.Second, Searched: 150, Ceiling: 200,
		Points: []capacity.Point{{Rate: 200, Duration: 5 * time.Second, P99: msd(400), Success: 1, Requests: 1000, Why: "p99 over the SLO"},
			{Rate: 150, Duration: 10 * time.Second, P99: msd(95), Success: 1, Requests: 1500, Pass: true, Hold: true}}}}
	pool.SLO = c.SLO
	s.Variants = append(s.Variants, "pool")
	for _, p := range pool.Points {
		r := s.Runs[2]
		r.Variant, r.Mode, r.PoolSize, r.Rate, r.Hold = "pool", "pool", 16, p.Rate, p.Hold
		r.Summary.Rate, r.Requests = p.Rate, p.Requests
		s.Runs = append(s.Runs, r)
	}
	s.Capacity = []result.Capacity{c, pool}
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "capacity.md", b.Bytes())
}

func TestCompareGolden(t *testing.T) {
	a, b := fixture(), fixture()
	b.Runs[2].Latency.P50 = msd(45) // concurrent got slower at 50 req/s
	b.Runs[2].Throughput = 49.9
	var out bytes.Buffer
	if err := Compare(&out, a, b, "before", "after"); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.txt", out.Bytes())
	other := fixture()
	other.Runs = nil
	if err := Compare(&out, a, other, "a", "b"); err == nil {
		t.Error("comparing results without a run in common: want an error")
	}
}

func TestWriteDrawsCharts(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	s.Phases = []string{"before", "degraded"}
	s.Events = []result.Event{{At: time.Second, Phase: "degraded", Service: "results", Change: "latency fixed:3s"}}
	for i := range s.Runs {
		s.Runs[i].Phases = map[string]load.Summary{"before": s.Runs[i].Summary, "degraded": s.Runs[i].Summary}
	}
	for i := range 25 {
		s.Runs[0].Samples = append(s.Runs[0].Samples, result.Sample{Offset: time.Duration(i) * 500 * time.Millisecond, RSS: int64(20+i%3) << 20, Goroutines: 10})
	}
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "percentiles.svg", "rate-p50.svg", "rate-p99.svg", "waterfall.svg", "timeline.svg", "timeline-success.svg", "memory.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".svg") && !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s is not an SVG", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !bytes.Contains(md, []byte("](waterfall.svg)")) || !bytes.Contains(md, []byte("## Phases")) {
		t.Error("report.md does not show the waterfall or the phases")
	}
}

func TestPhasesShowTheirOwnRate(t *testing.T) {
	// An event that drops the rate: the report names the change, and each
	// phase's row its own offered rate, not the run's.
	dir := t.TempDir()
	s := fixture()
	s.Phases = []string{"before", "calm"}
	s.Events = []result.Event{{At: time.Second, Phase: "calm", Rate: 10}}
	for i := range s.Runs {
		before, calm := s.Runs[i].Summary, s.Runs[i].Summary
		before.Offered, calm.Offered = s.Runs[i].Rate, 10
		s.Runs[i].Phases = map[string]load.Summary{"before": before, "calm": calm}
	}
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	r := s.Runs[0]
	row := fmt.Sprintf("| %s | 10 | calm |", Label(r.Variant, r.Mode, r.PoolSize))
	if !bytes.Contains(md, []byte("phase `calm`: rate 10/s\n")) || !bytes.Contains(md, []byte(row)) {
		t.Errorf("report.md does not show the drop to 10/s (want %q):\n%s", row, md)
	}
}
