package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

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
	for _, want := range []string{
		"warning: A and B differ in Go version (go1.26.8 vs go1.27.0), commit (0123456789ab vs fedcba987654)",
		"warning: concurrent @ 200 req/s only in A",
		"warning: pool @ 50 req/s only in A",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	b.Runs = append(b.Runs, pool)
	if out := compareSides(t, []*result.Scenario{a}, []*result.Scenario{b}, CompareOptions{}); !strings.Contains(out, "\npool (16)  ") {
		t.Errorf("the pool's size is not in its label:\n%s", out)
	}
}
