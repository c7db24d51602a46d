package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"fanout/bench/result"
)

// compareRow returns the verdict column of a figure's row in out, and
// whether the row exists.
func compareRow(out, label, rate, name string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `\s+` + regexp.QuoteMeta(rate) + `\s+` + regexp.QuoteMeta(name) + `\s{2,}.*$`)
	line := re.FindString(out)
	if line == "" {
		return "", false
	}
	for _, v := range []string{"within noise", "better", "worse", "changed"} {
		if strings.HasSuffix(strings.TrimSpace(line), v) {
			return v, true
		}
	}
	return "", true
}

func compareSides(t *testing.T, a, b []*result.Scenario, opt CompareOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := CompareSides(&out, Side{Name: "A", Runs: a}, Side{Name: "B", Runs: b}, opt); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// wantWarnings reports each warning that the comparison out lacks.
func wantWarnings(t *testing.T, out string, warnings ...string) {
	t.Helper()
	for _, want := range warnings {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestCompareEveryFigure(t *testing.T) {
	a, b := fixture(), fixture()
	r := &b.Runs[1] // sequential at 200 req/s
	r.Codes = map[string]int{"200": 1056, "504": 33, "502": 11}
	r.Errors = map[string]int{"http_504": 33, "http_502": 11}
	r.Requests = 1100
	r.GoroutineGrowth = 40
	r.Samples = []result.Sample{{Goroutines: 12}, {Goroutines: 90}}
	a.Runs[1].Samples = []result.Sample{{Goroutines: 12}, {Goroutines: 14}}
	r.RSSGrowth = 8 << 20
	b.Limits.CriticalPath.P99 = msd(60)
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, want := range []struct{ name, verdict string }{
		{"code 502 %", "worse"},
		{"code 504 %", "worse"},
		{"error http_502 %", "worse"},
		{"peak goroutines", "worse"},
		{"goroutine growth", "worse"},
		{"RSS growth MiB", "worse"},
		{"requests", "changed"},
	} {
		if v, ok := compareRow(out, "sequential", "200", want.name); !ok || v != want.verdict {
			t.Errorf("row %q: found %v, verdict %q, want %q", want.name, ok, v, want.verdict)
		}
	}
	if v, ok := compareRow(out, "limit", "", "critical path p99 ms"); !ok || v != "changed" {
		t.Errorf("critical path p99: found %v, verdict %q, want changed\n%s", ok, v, out)
	}
}

// TestCompareSharesInPoints: success from 99.5 % to 98 % is 1.5 points,
// beyond the default 1 point, though only 1.5 % relatively.
func TestCompareSharesInPoints(t *testing.T) {
	a, b := fixture(), fixture()
	a.Runs[1].Success, b.Runs[1].Success = 0.995, 0.98
	a.Runs[3].Success, b.Runs[3].Success = 0.995, 0.99 // half a point: unchanged
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	if v, _ := compareRow(out, "sequential", "200", "success %"); v != "worse" {
		t.Errorf("success 99.5 %% -> 98 %%: verdict %q, want worse\n%s", v, out)
	}
	if !strings.Contains(out, "-1.50 pt") {
		t.Errorf("no change in points in\n%s", out)
	}
	if v, ok := compareRow(out, "concurrent", "200", "success %"); !ok || v != "" {
		t.Errorf("success 99.5 %% -> 99 %%: verdict %q, want none", v)
	}
	out = compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{Points: 0.25})
	if v, _ := compareRow(out, "concurrent", "200", "success %"); v != "worse" {
		t.Errorf("with 0.25 points, 99.5 %% -> 99 %%: verdict %q, want worse", v)
	}
}

// TestCompareNoise: with repeated runs, a change whose ranges overlap is
// within noise, one beyond them is worse, and the threshold still applies.
func TestCompareNoise(t *testing.T) {
	withP50 := func(ms float64) *result.Scenario {
		s := fixture()
		s.Runs[2].Latency.P50 = msd(ms) // concurrent at 50 req/s
		return s
	}
	a := []*result.Scenario{withP50(40), withP50(44)}
	noisy := []*result.Scenario{withP50(43), withP50(47)}
	out := compareSides(t, a, noisy, CompareOptions{})
	if v, _ := compareRow(out, "concurrent", "50", "p50 ms"); v != "within noise" {
		t.Errorf("42 (40–44) -> 45 (43–47): verdict %q, want within noise\n%s", v, out)
	}
	if !strings.Contains(out, "42.00 (40.00–44.00)") {
		t.Errorf("no mean (min–max) in\n%s", out)
	}
	slower := []*result.Scenario{withP50(50), withP50(51)}
	if v, _ := compareRow(compareSides(t, a, slower, CompareOptions{}), "concurrent", "50", "p50 ms"); v != "worse" {
		t.Errorf("42 (40–44) -> 50.5 (50–51): verdict %q, want worse", v)
	}
	if v, _ := compareRow(compareSides(t, a, slower, CompareOptions{Threshold: 0.25}), "concurrent", "50", "p50 ms"); v != "" {
		t.Errorf("+20 %% under a 25 %% threshold: verdict %q, want none", v)
	}
}

func TestCompareWarnings(t *testing.T) {
	a, b := fixture(), fixture()
	b.Env.GoVersion = "go1.27.0"
	b.Env.Commit = "fedcba9876543210"
	b.Runs = b.Runs[:3] // no concurrent at 200 req/s in B
	pool := a.Runs[0]
	pool.Variant, pool.Mode, pool.PoolSize = "pool", "pool", 16
	a.Runs = append(a.Runs, pool)
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	wantWarnings(t, out,
		"warning: A and B differ in Go version (go1.26.8 vs go1.27.0), commit (0123456789ab vs fedcba987654)",
		"warning: concurrent @ 200 req/s only in A",
		"warning: pool @ 50 req/s only in A",
	)
	b.Runs = append(b.Runs, pool)
	if out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{}); !strings.Contains(out, "\npool (16)  ") {
		t.Errorf("the pool's size is not in its label:\n%s", out)
	}
}

// TestCompareFiguresOfTheLoad: the figures of the load (sent rate, the
// complete/partial/failed split, the latency trend, the generator's CPU)
// have names, units and directions of their own, and the fields that are
// not figures (the generator-limited flag, warm-up, window) are no rows.
func TestCompareFiguresOfTheLoad(t *testing.T) {
	a, b := fixture(), fixture()
	for _, s := range []*result.Scenario{a, b} {
		r := &s.Runs[1] // sequential at 200 req/s
		r.Complete, r.Partial, r.Failed = 0.98, 0.01, 0.01
		r.GeneratorCPUShare = 0.10
		r.LatencySlope = 0.0002 // 0.2 ms/s
	}
	r := &b.Runs[1]
	r.Complete, r.Partial, r.Failed = 0.90, 0.06, 0.04
	r.GeneratorCPUShare = 0.30
	r.Summary.Rate = 180            // the sending rate; r.Rate is the offered one
	r.LatencySlope = 0.004          // 4 ms/s: a queue builds
	b.Runs[3].LatencySlope = 0.0008 // 0.8 ms/s from 0: flat still
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, want := range []struct{ rate, name, verdict string }{
		{"200", "complete %", "worse"},
		{"200", "partial %", "worse"},
		{"200", "failed %", "worse"},
		{"200", "latency trend ms/s", "worse"},
		{"200", "sent/s", "changed"},
		{"200", "load cpu %", "changed"},
	} {
		if v, ok := compareRow(out, "sequential", want.rate, want.name); !ok || v != want.verdict {
			t.Errorf("row %q: found %v, verdict %q, want %q\n%s", want.name, ok, v, want.verdict, out)
		}
	}
	if v, ok := compareRow(out, "concurrent", "200", "latency trend ms/s"); !ok || v != "" {
		t.Errorf("a trend from 0 to 0.8 ms/s: found %v, verdict %q, want none\n%s", ok, v, out)
	}
	if !strings.Contains(out, "-8.00 pt") || !strings.Contains(out, "+3.8 ms/s") {
		t.Errorf("no change in points for complete, or in ms/s for the trend:\n%s", out)
	}
	for _, name := range []string{"achieved_rate", "complete", "generator_limited", "generator_cpu", "latency_slope", "warmup", "window", "hold"} {
		if regexp.MustCompile(`\s` + name + `\s{2,}`).MatchString(out) {
			t.Errorf("%q is a row of its own, by its JSON name:\n%s", name, out)
		}
	}
	// A summary written before the split has no complete/partial/failed:
	// its rows show "-", not 0 %.
	a.Runs[3].Complete, a.Runs[3].Partial, a.Runs[3].Failed = 0, 0, 0
	b.Runs[3].Complete, b.Runs[3].Partial, b.Runs[3].Failed = 0, 0, 0
	if _, ok := compareRow(compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{}), "concurrent", "200", "complete %"); ok {
		t.Error("complete % of summaries without it is a row")
	}
}

// TestCompareLimitsAndCapacityFigures: sampled limits show how many
// requests were simulated and how well they are known; a capacity shows
// how long it held.
func TestCompareLimitsAndCapacityFigures(t *testing.T) {
	a, b := fixture(), fixture()
	for i, s := range []*result.Scenario{a, b} {
		s.Limits.Fixed, s.Limits.Samples, s.Limits.Uncertainty = false, 20000*(i+1), 0.02/float64(i+1)
		c := result.Capacity{Variant: "concurrent", Mode: "concurrent"}
		c.Capacity, c.HeldFor = 800, time.Duration(10*(i+1))*time.Second
		s.Capacity = []result.Capacity{c}
	}
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, want := range []struct{ label, name, a, b string }{
		{"limit", "simulated requests", "20000", "40000"},
		{"limit", "uncertainty ±%", "2.00", "1.00"},
		{"concurrent", "capacity held for s", "10", "20"},
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.label) + `\s+` + regexp.QuoteMeta(want.name) + `\s+` + regexp.QuoteMeta(want.a) + `\s+` + regexp.QuoteMeta(want.b) + `\s`)
		if !re.MatchString(out) {
			t.Errorf("no row %s %q %s -> %s in\n%s", want.label, want.name, want.a, want.b, out)
		}
	}
}

// TestCompareWarnsOfDoubtfulRuns: a run whose generator could not keep up
// measured the generator, an interrupted directory holds only part of its
// steps, and runs measured over other lengths count other requests.
func TestCompareWarnsOfDoubtfulRuns(t *testing.T) {
	a, b := fixture(), fixture()
	b.Runs[3].GeneratorLimited = true // concurrent at 200 req/s
	b.Runs[3].Summary.Rate = 150
	b.Interrupted = true
	a.Runs[2].Window, b.Runs[2].Window = 5*time.Second, 10*time.Second
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	wantWarnings(t, out,
		"warning: concurrent @ 200 req/s was generator-limited in B (sent 150.0 req/s): its figures measure the load generator, not the gateway",
		"warning: B was interrupted: it holds only the steps that finished",
		"warning: concurrent @ 50 req/s was measured over 5s in A and 10s in B",
	)
	if strings.Contains(out, "was generator-limited in A") || strings.Contains(out, "A was interrupted") {
		t.Errorf("a warning about the wrong side:\n%s", out)
	}
}

// TestCompareLeavesOutThinP99s: a p99 of fewer than load.MinSamples
// requests is no figure (the report says "not enough data"), so compare
// neither shows nor judges it, and says why; a flat trend is 0.0, not
// -0.0.
func TestCompareLeavesOutThinP99s(t *testing.T) {
	a, b := fixture(), fixture() // 250 requests at 50 req/s, 1000 at 200
	b.Runs[0].Latency.P99 = msd(300)
	a.Runs[0].LatencySlope = -0.00001
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, name := range []string{"p99 ms", "p99.9 ms"} {
		if _, ok := compareRow(out, "sequential", "50", name); ok {
			t.Errorf("%s of 250 requests is a row:\n%s", name, out)
		}
		if _, ok := compareRow(out, "sequential", "200", name); !ok {
			t.Errorf("%s of 1000 requests is not a row:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "warning: p99 and p99.9 are left out where a run has fewer than 1000 requests") {
		t.Errorf("no warning about the p99s left out:\n%s", out)
	}
	if strings.Contains(out, "-0.0 ") {
		t.Errorf("a -0.0 in\n%s", out)
	}
}

// TestCompareFloors: the gateway's resources have absolute floors below
// which a change is unchanged however large relatively (an RSS growth of
// 0.05 MiB to 1.2 MiB was "+2146 % worse"), and the comparison starts with
// what changed beyond noise.
func TestCompareFloors(t *testing.T) {
	a, b := fixture(), fixture()
	ra, rb := &a.Runs[2], &b.Runs[2] // concurrent at 50 req/s
	ra.RSSGrowth, rb.RSSGrowth = 50<<10, 1200<<10
	ra.PeakRSS, rb.PeakRSS = 24<<20, 26<<20 // +8 %, 2 MiB
	ra.Samples, rb.Samples = []result.Sample{{Goroutines: 8}}, []result.Sample{{Goroutines: 14}}
	ra.GoroutineGrowth, rb.GoroutineGrowth = 1, 4
	ra.CPUPerRequest, rb.CPUPerRequest = 20*time.Microsecond, 50*time.Microsecond
	out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, name := range []string{"RSS growth MiB", "peak RSS MiB", "peak goroutines", "goroutine growth", "cpu/req ms"} {
		if v, ok := compareRow(out, "concurrent", "50", name); !ok || v != "" {
			t.Errorf("%s: found %v, verdict %q, want unchanged\n%s", name, ok, v, out)
		}
	}
	if !strings.Contains(out, "+1.1 MiB") || !strings.Contains(out, "Beyond noise: nothing changed.") {
		t.Errorf("no absolute RSS growth, or no summary of what changed:\n%s", out)
	}

	// Beyond the floors, the same figures are worse, and listed first.
	rb.RSSGrowth, rb.PeakRSS = 12<<20, 40<<20
	rb.Samples, rb.GoroutineGrowth = []result.Sample{{Goroutines: 80}}, 60
	rb.CPUPerRequest = 400 * time.Microsecond
	out = compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{})
	for _, name := range []string{"RSS growth MiB", "peak RSS MiB", "peak goroutines", "goroutine growth", "cpu/req ms"} {
		if v, _ := compareRow(out, "concurrent", "50", name); v != "worse" {
			t.Errorf("%s: verdict %q, want worse", name, v)
		}
	}
	head, _, _ := strings.Cut(out, "mode ")
	if !strings.Contains(head, "Beyond noise: 5 of") || !regexp.MustCompile(`(?m)^  concurrent\s+50\s+RSS growth MiB\s.*worse$`).MatchString(head) {
		t.Errorf("the summary at the top does not list the five changes:\n%s", head)
	}
}
