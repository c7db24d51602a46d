package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/load"
	"fanout/bench/result"
)

func TestMarkdownTellsTheTruthOfAStep(t *testing.T) {
	s := fixture()
	s.Variants = append(s.Variants, "staged")
	staged := s.Runs[2]
	staged.Variant, staged.Mode = "staged", "staged"
	staged.Latency.P50 = msd(56)
	s.Runs = append(s.Runs, staged)
	// concurrent at 50 req/s: a p50 under the critical path; at 200 req/s
	// the generator sent 75 % and the pages were partly partial.
	s.Runs[2].Latency.P50 = msd(39.2)
	s.Runs[3].GeneratorLimited, s.Runs[3].Summary.Rate = true, 150
	s.Runs[3].Complete, s.Runs[3].Partial, s.Runs[3].Failed = 0.285, 0.715, 0
	s.Runs[0].Requests = 250 // sequential at 50: too few for a p99
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| concurrent | 39.20 |",
		"0.98 (2% under a fixed limit, which has no uncertainty: the limit does not describe this run)",
		"150.0 **generator-limited**",
		"| 28.50% | 71.50% | 0.00% |",
		"| *levels* | *55.00* |",
		"staged beside its own limit, the levels: p50 ×levels 1.02",
		"not enough data (250 requests)",
		"| success | complete | partial | failed |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(out, "INTERRUPTED") {
		t.Error("a finished run reported as interrupted")
	}
}

func TestMarkdownCapacityBelowFloor(t *testing.T) {
	s := fixture()
	s.Rates = nil
	c := result.Capacity{Variant: "blocking", Result: capacity.Result{Floor: 102,
		Points: []capacity.Point{{Rate: 200, Duration: msd(10000), Requests: 2000, Why: "p99 over the SLO"}}}}
	s.Capacity = []result.Capacity{c}
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "**below 102** (not enough samples)") || !strings.Contains(out, "fail: p99 over the SLO") {
		t.Errorf("capacity below the sample floor:\n%s", out)
	}
}

// rebuilt rebuilds the report of dir and returns its report.md.
func rebuilt(t *testing.T, dir string) string {
	t.Helper()
	if err := Rebuild(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(md)
}

func TestRebuildAnInterruptedRun(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	s.Interrupted = true
	s.Runs = s.Runs[:1]
	if err := result.Write(dir, s); err != nil {
		t.Fatal(err)
	}
	// The mark is at the top, before any table.
	out := rebuilt(t, dir)
	if i, tbl := strings.Index(out, "**INTERRUPTED**"), strings.Index(out, "| "); i < 0 || i > tbl {
		t.Errorf("report.md does not say at the top that the run was interrupted:\n%s", out)
	}
	if err := Rebuild(t.TempDir()); err == nil {
		t.Error("rebuilt a directory without summary.json")
	}
}

// TestMarkdownLabelsPoolsWithTheirSize: a pool's figures mean little
// without its size, so every table names it, as the charts and compare do,
// even when the scenario's variant is just "pool".
func TestMarkdownLabelsPoolsWithTheirSize(t *testing.T) {
	s := fixture()
	s.Variants = append(s.Variants, "pool", "staged")
	s.Phases = []string{"before"}
	s.Targets = []string{"results", "experiment"}
	for i := range s.Runs {
		s.Runs[i].Phases = map[string]load.Summary{"before": s.Runs[i].Summary}
		s.Runs[i].Targets = map[string]load.Summary{"results": s.Runs[i].Summary}
	}
	for _, rate := range []int{0, 1} {
		pool := s.Runs[rate]
		pool.Variant, pool.Mode, pool.PoolSize = "pool", "pool", 16
		s.Runs = append(s.Runs, pool)
	}
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\n| pool (16) | 86.50 |",       // the rate tables
		"\n| pool (16) | 50 | before |", // the phases
		"\n| pool (16) | 50 | results |",
		"\n| pool (16) | 50 | 250 |", // resources
		"\n| staged | not run |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n| pool |") {
		t.Errorf("a pool without its size:\n%s", out)
	}

	c := s.Capacity
	s.Capacity = append(c, result.Capacity{Variant: "pool", Mode: "pool", PoolSize: 16, Result: capacity.Result{Capacity: 300, HeldFor: msd(10000),
		Points: []capacity.Point{{Rate: 300, Duration: msd(10000), Requests: 3000, Pass: true, Hold: true}}}})
	b.Reset()
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n| pool (16) | p99 ≤", "\n| pool (16) | hold | 300 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the capacity tables lack %q:\n%s", want, b.String())
		}
	}
}

// TestCapacityText: a search that found nothing never reads as a capacity
// of 0 req/s: it says below what rate, and why.
func TestCapacityText(t *testing.T) {
	for _, tc := range []struct {
		c    result.Capacity
		want string
	}{
		{result.Capacity{Result: capacity.Result{Capacity: 3200, Searched: 3200, Ceiling: 3400}}, "3200"},
		{result.Capacity{Result: capacity.Result{Searched: 0, Ceiling: 100}}, "below 100 (every probe failed)"},
		{result.Capacity{Result: capacity.Result{Floor: 40}}, "below 40 (not enough samples)"},
		{result.Capacity{Result: capacity.Result{Searched: 200, Ceiling: 400}}, "none held"},
	} {
		if got := CapacityText(tc.c); got != tc.want {
			t.Errorf("CapacityText(%+v) = %q, want %q", tc.c.Result, got, tc.want)
		}
	}
}

// TestMarkdownShowsUndecidedApart: an expectation on too little data or on
// a step that never ran is neither in the FAILED list nor counted as held.
func TestMarkdownShowsUndecidedApart(t *testing.T) {
	s := fixture()
	s.Expectations = []result.Expectation{
		{Source: "concurrent.p50 < 1s", Pass: true, Verdict: result.Holds, Detail: "41.00 < 1000.0"},
		{Source: "concurrent.p99 < 50ms", Verdict: result.NotEnoughData, Detail: "45.00 < 50.00 (not enough data)"},
		{Source: "blocking.p50 < 1s", Verdict: result.NotRun, Detail: "not run: the run was interrupted before this step"},
	}
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"**1 of 3 expectations hold; 1 not run; 1 not enough data.**",
		"Neither held nor failed (2)",
		"- not enough data: `concurrent.p99 < 50ms`",
		"| not run | `blocking.p50 < 1s` |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("an undecided expectation is shown as failed:\n%s", out)
	}
}

// TestMarkdownSaysWhatWasSent: where the generator sent less than the
// offered rate, the rate's heading and the phases table say what was sent.
func TestMarkdownSaysWhatWasSent(t *testing.T) {
	s := fixture()
	s.Phases = []string{"before", "overload"}
	s.Events = []result.Event{{At: time.Second, Phase: "overload", Rate: 400}}
	r := &s.Runs[3] // concurrent at 200
	r.GeneratorLimited, r.Summary.Rate = true, 151.4
	r.Phases = map[string]load.Summary{
		"before":   {Requests: 200, Offered: 200, Rate: 199},
		"overload": {Requests: 1000, Offered: 400, Rate: 250},
	}
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"## 200 req/s offered, less sent (generator-limited): concurrent 151\n",
		"## 50 req/s offered\n",
		"| concurrent | 400 (sent 250) | overload |",
		"| concurrent | 200 | before |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
