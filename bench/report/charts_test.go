package report

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/servertiming"
)

// svgTexts returns the texts an SVG file draws.
func svgTexts(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, l := range svgLabels(t, file) {
		out = append(out, l.text)
	}
	return out
}

func hasText(texts []string, want string) bool {
	for _, s := range texts {
		if s == want {
			return true
		}
	}
	return false
}

// talkWithBlocking is the fixture with a blocking run whose median request
// waited 2 s for the lock, and a pool of 16.
func talkWithBlocking() *result.Scenario {
	s := fixture()
	blocking := s.Runs[2]
	blocking.Variant, blocking.Mode = "blocking", "blocking"
	blocking.Latency = load.Latency{Dist: dist.Dist{P50: msd(2000), P90: msd(2000), P99: msd(2000), P999: msd(2000), Mean: msd(2000)}, Max: msd(2000)}
	blocking.Timing = &servertiming.Timing{Total: msd(2000), Calls: []servertiming.Entry{
		{Name: "experiment", Start: msd(1900), Duration: msd(20), HasStart: true},
		{Name: "results", Start: msd(1960), Duration: msd(40), HasStart: true},
	}}
	pool := s.Runs[2]
	pool.Variant, pool.Mode, pool.PoolSize = "pool", "pool", 16
	s.Runs = append(s.Runs, blocking, pool)
	s.Variants = append(s.Variants, "blocking", "pool")
	return s
}

func TestWaterfallCutsTheTimedOutRequest(t *testing.T) {
	dir := t.TempDir()
	charts, err := WriteCharts(dir, talkWithBlocking())
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) == 0 {
		t.Fatal("no charts")
	}
	texts := svgTexts(t, filepath.Join(dir, "waterfall.svg"))
	// The 2 s request is cut, and says how long it was.
	if !hasText(texts, "0–2000 ms &gt;") || !hasText(texts, "1960–2000 ms &gt;") {
		t.Errorf("no label on the cut request among %q", texts)
	}
	// The time axis stays on the scale of the others (sequential's 86.5
	// ms request is the longest kept): no tick beyond a few hundred ms.
	for _, s := range texts {
		if s == "1000" || s == "1500" || s == "2000" {
			t.Errorf("the time axis reaches %s ms: the 2 s request squashes the others", s)
		}
	}
	if !hasText(texts, "pool (16) · total") || !hasText(texts, "blocking · total") {
		t.Errorf("rows %q, want pool (16) and blocking", texts)
	}
}

func TestClipAt(t *testing.T) {
	tests := []struct {
		totals []float64
		sum    float64
		want   bool // a cut
	}{
		{[]float64{86, 58, 41}, 85, false},         // sequential, staged, concurrent: one scale
		{[]float64{86, 58, 41, 2000}, 85, true},    // blocking's 2 s: cut
		{[]float64{86, 58, 41, 2000}, 1000, false}, // slow backends: 2 s is not far longer
		{[]float64{300, 41}, 0, true},              // no limits: against the fastest
	}
	for _, tc := range tests {
		got := clipAt(tc.totals, tc.sum)
		if (got > 0) != tc.want {
			t.Errorf("clipAt(%v, %v) = %v, want a cut: %v", tc.totals, tc.sum, got, tc.want)
		}
		if got > 0 && got >= max(tc.totals[0], tc.totals[len(tc.totals)-1]) {
			t.Errorf("clipAt(%v, %v) = %v, beyond the longest request", tc.totals, tc.sum, got)
		}
	}
}

func TestChartsLabels(t *testing.T) {
	dir := t.TempDir()
	s := talkWithBlocking()
	s.Phases = []string{"before", "degraded"}
	s.Events = []result.Event{{At: time.Second, Phase: "degraded", Service: "results", Change: "latency fixed:3s"}}
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	// The percentiles at 50 req/s lie between 41 and 2000 ms: 1-2-5
	// labels are enough there; the rate charts span less.
	p := svgTexts(t, filepath.Join(dir, "percentiles.svg"))
	for _, want := range []string{"50", "100", "200", "500", "1000", "pool (16) (250 requests: no p99)", "blocking (250 requests: no p99)"} {
		if !hasText(p, want) {
			t.Errorf("percentiles.svg has no %q among %q", want, p)
		}
	}
	// Timelines name their events beside the line.
	for _, f := range []string{"timeline.svg", "timeline-success.svg"} {
		if texts := svgTexts(t, filepath.Join(dir, f)); !hasText(texts, "degraded: results latency fixed:3s") {
			t.Errorf("%s does not name its event among %q", f, texts)
		}
	}
}

// TestNarrowLogAxisIsReadable: the talk's modes at one rate (41 to 173 ms
// over the percentiles) get a label every 10 ms where they lie.
func TestNarrowLogAxisIsReadable(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, filepath.Join(dir, "rate-p50.svg"))
	for _, want := range []string{"40", "50", "60", "70", "80", "90"} {
		if !hasText(texts, want) {
			t.Errorf("rate-p50.svg (41 to 90 ms) has no tick %q among %q", want, texts)
		}
	}
}

// TestLatencyOverTime draws a run whose latency climbs (a queue) from its
// results file, and the report links the chart.
func TestLatencyOverTime(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	f, err := os.Create(filepath.Join(dir, "concurrent-50.bin"))
	if err != nil {
		t.Fatal(err)
	}
	enc := vegeta.NewEncoder(f)
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	failed := 0
	for i := range 250 {
		r := vegeta.Result{Attack: "concurrent-50", Seq: uint64(i), Code: 200, Method: "GET", URL: "http://x/",
			Timestamp: start.Add(time.Duration(i) * 20 * time.Millisecond), Latency: msd(40 + float64(i)*4)}
		if i%50 == 49 {
			r.Code, failed = 504, failed+1
		}
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s.Runs[2].File = "concurrent-50.bin"
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	const chart = "concurrent-50-over-time.svg"
	texts := svgTexts(t, filepath.Join(dir, chart))
	for _, want := range []string{"p50", "max", "failed (5)", "Latency over the run: concurrent at 50 req/s", "critical path p50 (limit)"} {
		if !hasText(texts, want) {
			t.Errorf("%s has no %q among %q", chart, want, texts)
		}
	}
	// Slices of a dozen requests have no p99 (see TestChartsRefuseThinTails).
	if hasText(texts, "p99") {
		t.Errorf("%s draws the p99 of slices of a dozen requests", chart)
	}
	md, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "]("+chart+")") {
		t.Errorf("report.md does not link %s", chart)
	}
	// The other runs have no results file, hence no chart.
	if _, err := os.Stat(filepath.Join(dir, "sequential-over-time.svg")); !os.IsNotExist(err) {
		t.Errorf("a chart without a results file: %v", err)
	}
}

// TestChartsRefuseThinTails: a chart draws no p99 that the tables refuse,
// a p99 of fewer than load.MinSamples requests: the percentile chart stops
// such a run's line at p90 and says why, the p99-vs-rate chart is not
// drawn when no run has enough requests, the timeline of slices of a few
// requests draws their p50, and the latency over time draws a p99 only for
// slices with enough requests.
func TestChartsRefuseThinTails(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	s.Phases = []string{"before", "degraded"}
	s.Events = []result.Event{{At: time.Second, Phase: "degraded", Service: "results", Change: "latency fixed:3s"}}
	for i := range s.Runs {
		s.Runs[i].Requests = 200
	}
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	if p := svgTexts(t, filepath.Join(dir, "percentiles.svg")); !hasText(p, "concurrent (200 requests: no p99)") {
		t.Errorf("percentiles.svg does not say the p99 is left out: %q", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "rate-p99.svg")); !os.IsNotExist(err) {
		t.Errorf("rate-p99.svg drawn from p99s of 200 requests: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rate-p50.svg")); err != nil {
		t.Errorf("the median's chart is gone too: %v", err)
	}
	texts := svgTexts(t, filepath.Join(dir, "timeline.svg"))
	if !hasText(texts, "p50 latency (ms, log scale)") || hasText(texts, "p99 latency (ms, log scale)") {
		t.Errorf("the timeline of slices of 10 requests does not draw their p50: %q", texts)
	}

	// Enough requests in every run and slice: every p99 is drawn.
	dir = t.TempDir()
	for i := range s.Runs {
		s.Runs[i].Requests = 1000
		for j := range s.Runs[i].Timeline {
			s.Runs[i].Timeline[j].Requests = 1000
		}
	}
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	if p := svgTexts(t, filepath.Join(dir, "percentiles.svg")); !hasText(p, "concurrent") {
		t.Errorf("percentiles.svg: %q", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "rate-p99.svg")); err != nil {
		t.Errorf("no rate-p99.svg with enough requests: %v", err)
	}
	if texts := svgTexts(t, filepath.Join(dir, "timeline.svg")); !hasText(texts, "p99 latency (ms, log scale)") {
		t.Errorf("the timeline of slices of 1000 requests: %q", texts)
	}

	// The latency over time: 21 s at 1000 req/s, slices of a second of
	// 1000 requests each: the p99 is drawn.
	hits := make([]hit, 0, 21000)
	for i := range 21000 {
		hits = append(hits, hit{offset: time.Duration(i) * time.Millisecond, latency: msd(40), ok: true})
	}
	p := overTimeChart(s, &s.Runs[2], hits)
	if p == nil {
		t.Fatal("no chart")
	}
	file := filepath.Join(dir, "over-time.svg")
	if err := p.Save(chartW, chartH, file); err != nil {
		t.Fatal(err)
	}
	if texts := svgTexts(t, file); !hasText(texts, "p99") {
		t.Errorf("the latency over time of slices of 1000 requests has no p99: %q", texts)
	}
}

// TestRebuildKeepsChartsItCannotRedraw: a committed reference run has its
// latency over time charts but not the results files they were drawn
// from. Rebuilding its report keeps each such chart as it is, linked, with
// a title that says why, rather than dropping its section.
func TestRebuildKeepsChartsItCannotRedraw(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	for i := range s.Runs {
		s.Runs[i].File = s.Runs[i].Variant + "-" + load.FormatRate(s.Runs[i].Rate) + ".bin"
	}
	if err := result.Write(dir, s); err != nil {
		t.Fatal(err)
	}
	const kept = "concurrent-50-over-time.svg"
	const drawn = "<svg><!-- drawn from the results file --></svg>"
	if err := os.WriteFile(filepath.Join(dir, kept), []byte(drawn), 0o644); err != nil {
		t.Fatal(err)
	}
	md := rebuilt(t, dir)
	if want := "### Latency over the run: concurrent at 50 req/s" + KeptNote + "\n\n![Latency over the run: concurrent at 50 req/s" + KeptNote + "](" + kept + ")"; !strings.Contains(md, want) {
		t.Errorf("report.md does not keep %s:\n%s", kept, md)
	}
	if b, err := os.ReadFile(filepath.Join(dir, kept)); err != nil || string(b) != drawn {
		t.Errorf("the kept chart was changed: %q, %v", b, err)
	}
	// A run with neither its results file nor a chart has no section.
	if strings.Contains(md, "sequential-50-over-time.svg") {
		t.Errorf("report.md links a chart that does not exist:\n%s", md)
	}
}

// svgLabel is one text an SVG file draws, where it draws it.
type svgLabel struct {
	x, y float64
	text string
}

// svgLabels returns the texts of an SVG file with their positions.
func svgLabels(t *testing.T, file string) []svgLabel {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []svgLabel
	for _, m := range regexp.MustCompile(`<text x="([-0-9.]+)" y="([-0-9.]+)"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(string(b), -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		out = append(out, svgLabel{x, y, strings.TrimSpace(m[3])})
	}
	return out
}

// TestEventLabelsDoNotOverlap: two events a second apart (overload's calm
// and recovered) are named on two lines, not one over the other.
func TestEventLabelsDoNotOverlap(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	s.Phases = []string{"before", "calm", "recovered"}
	s.Events = []result.Event{{At: 2 * time.Second, Phase: "calm", Rate: 100}, {At: 2200 * time.Millisecond, Phase: "recovered", Rate: 100}}
	s.Runs[2].Timeline = append(s.Runs[2].Timeline, load.Bucket{Offset: 4 * time.Second, Requests: 10, Success: 1, P50: msd(41), P99: msd(41)})
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"timeline.svg", "timeline-success.svg"} {
		var at []svgLabel
		for _, l := range svgLabels(t, filepath.Join(dir, f)) {
			if strings.HasPrefix(l.text, "calm:") || strings.HasPrefix(l.text, "recovered:") {
				at = append(at, l)
			}
		}
		if len(at) != 2 {
			t.Fatalf("%s: event labels %+v, want two", f, at)
		}
		// 10 px text: two names less than a line apart overlap.
		if dy := math.Abs(at[0].y - at[1].y); dy < 10 {
			t.Errorf("%s: %q and %q are %.1f px apart vertically, at x %.0f and %.0f: they overlap", f, at[0].text, at[1].text, dy, at[0].x, at[1].x)
		}
	}
}

// TestSeriesColoursAreDistinct: every series of a chart has its own
// colour, none of them the failures' red or the limits' black and grey,
// also beyond plotutil's seven (the memory chart draws a line per mode
// and rate: fifteen for talk).
func TestSeriesColoursAreDistinct(t *testing.T) {
	rgb := func(c color.Color) [3]float64 {
		r, g, b, _ := c.RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(b >> 8)}
	}
	dist := func(a, b color.Color) float64 {
		x, y := rgb(a), rgb(b)
		return math.Sqrt((x[0]-y[0])*(x[0]-y[0]) + (x[1]-y[1])*(x[1]-y[1]) + (x[2]-y[2])*(x[2]-y[2]))
	}
	const apart = 50 // of 441, black to white
	reserved := map[string]color.Color{"failures": failColor, "limit": color.Black, "sum limit": color.Gray{Y: 128}}
	for i := range 16 {
		for j := range i {
			if d := dist(seriesColor(i), seriesColor(j)); d < apart {
				t.Errorf("series %d and %d: colours %v and %v, %.0f apart", i, j, seriesColor(i), seriesColor(j), d)
			}
		}
		for name, c := range reserved {
			if d := dist(seriesColor(i), c); d < apart {
				t.Errorf("series %d: colour %v, %.0f from the %s'", i, seriesColor(i), d, name)
			}
		}
	}
	// The memory chart of fifteen runs draws fifteen colours.
	dir := t.TempDir()
	s := fixture()
	for len(s.Runs) < 15 {
		s.Runs = append(s.Runs, s.Runs[len(s.Runs)%4])
	}
	for i := range s.Runs {
		s.Runs[i].Samples = nil
		for k := range 20 {
			s.Runs[i].Samples = append(s.Runs[i].Samples, result.Sample{Offset: time.Duration(k) * time.Second, RSS: int64(20+i) << 20})
		}
	}
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.svg"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`stroke:(#[0-9A-F]{6});stroke-width:1.5`).FindAllStringSubmatch(string(b), -1) {
		seen[m[1]] = true
	}
	if len(seen) != 15 {
		t.Errorf("memory.svg draws its 15 runs in %d colours: %v", len(seen), seen)
	}
}

// TestLimitLinesAreBeneathTheSeries: a series along its limit (concurrent
// at the critical path) is drawn after the limit, so over it, and stays
// visible.
func TestLimitLinesAreBeneathTheSeries(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"percentiles.svg", "rate-p50.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		limit := strings.Index(string(b), "stroke-dasharray:6,3")
		series := strings.Index(string(b), "stroke-width:1.5")
		if limit < 0 || series < 0 || limit > series {
			t.Errorf("%s: the limit line (at byte %d) is drawn after the first series (at byte %d), over it", f, limit, series)
		}
	}
}

// TestCapacityBelowAFloorIsNoZero: a search that found no capacity, only
// a bound ("below 102"), draws a pale bar up to the bound with its text,
// not a bar of 0.
func TestCapacityBelowAFloorIsNoZero(t *testing.T) {
	dir := t.TempDir()
	s := fixture()
	s.Rates = nil
	s.Capacity = []result.Capacity{
		{Variant: "concurrent", Mode: "concurrent", Result: capacity.Result{Capacity: 2700, HeldFor: 10 * time.Second}},
		{Variant: "blocking", Mode: "blocking", Result: capacity.Result{Floor: 102}},
	}
	if _, err := WriteCharts(dir, s); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, filepath.Join(dir, "capacity.svg"))
	if !hasText(texts, "below 102") || !hasText(texts, "2700") {
		t.Errorf("capacity.svg does not say below 102 beside 2700: %q", texts)
	}
	b, err := os.ReadFile(filepath.Join(dir, "capacity.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "fill:#E1E1E1") {
		t.Error("capacity.svg draws no pale bar up to the bound")
	}
}
