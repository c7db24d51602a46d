package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"fanout/bench/dist"
	registry "fanout/bench/figure"
	"fanout/bench/load"
	"fanout/bench/result"
)

// DefaultThreshold is the relative change below which `bench compare` calls
// a figure unchanged: 5 % is about the run-to-run noise of latencies on a
// shared laptop.
const DefaultThreshold = 0.05

// DefaultPoints is the change, in percentage points, below which `bench
// compare` calls a share (success, a status code, an error kind)
// unchanged. A share is compared in points, not relatively: 99 % to 98 % is
// one point, while relatively it would hide among the latencies' noise, and
// 0.1 % to 0.2 % would be "+100 %".
const DefaultPoints = 1.0

// CompareOptions tune the verdicts of Compare. The zero value uses the
// defaults.
type CompareOptions struct {
	// Threshold is the relative change (0.05 for 5 %) below which a figure
	// is unchanged. If 0, DefaultThreshold is used.
	Threshold float64
	// Points is the change in percentage points below which a share is
	// unchanged. If 0, DefaultPoints is used.
	Points float64
}

// Side is one side of a comparison: one result directory, or several runs
// of the same scenario whose spread tells the noise apart from a change.
type Side struct {
	Name string
	Runs []*result.Scenario
}

// figure is one comparable number of a run. get reports false when the run
// does not have it (an older summary.json, a status code never seen).
type figure struct {
	name   string
	get    func(*result.Run) (float64, bool)
	format func(float64) string
	unit   registry.Change
	// better is -1 when lower is better, +1 when higher is, 0 when a
	// change is neither (a count that depends on the run's length, a
	// figure of the load generator rather than of the gateway).
	better int
	// noise is the change, in the figure's own unit, below which it is
	// unchanged: for an absolute figure its only threshold, for a relative
	// one a floor beside the relative threshold, so that a figure near 0
	// (an RSS growth of 0.05 MiB) does not call a small change (1.2 MiB)
	// "+2146 %". 0: none.
	noise float64
	// suffix follows an absolute change ("ms/s").
	suffix string
}

func msOf(d time.Duration) float64 { return result.Millis(d) }

// figures are the registry's figures that have a column, in its order;
// status codes, error kinds and fields added to summary.json later follow.
var figures = func() []figure {
	var out []figure
	for i := range registry.All {
		f := &registry.All[i]
		if f.Column == "" {
			continue
		}
		out = append(out, figure{name: f.Column, get: f.ColumnValue, format: []func(float64) string{f0, f1, f2, f3}[f.Digits],
			unit: f.Change, better: f.Better, noise: f.Noise, suffix: f.Suffix})
	}
	return out
}()

// notFigures are the JSON fields of a run that are not figures (file
// names, series drawn by the charts, the length of the warm-up and of the
// measured window, which warnings compare, the generator-limited flag,
// which is a warning), or that codeFigures and errorFigures compare.
var notFigures = []string{"variant", "mode", "pool_size", "file", "probe", "span", "codes", "errors",
	"phases", "timing", "timing_target", "targets", "timeline", "window", "warmup", "generator_limited", "hold"}

// shownFields are notFigures and the fields the registry's figures read.
// Any other number in summary.json is compared as it is, so a figure
// added to the results is never left out.
var shownFields = func() []string {
	out := slices.Clone(notFigures)
	for _, f := range registry.All {
		out = append(out, f.Fields...)
	}
	return out
}()

func f0(x float64) string { return noNegativeZero(fmt.Sprintf("%.0f", x)) }
func f1(x float64) string { return noNegativeZero(fmt.Sprintf("%.1f", x)) }
func f2(x float64) string { return noNegativeZero(fmt.Sprintf("%.2f", x)) }
func f3(x float64) string { return noNegativeZero(fmt.Sprintf("%.3f", x)) }

// noNegativeZero turns "-0.0" (a tiny negative rounded) into "0.0".
func noNegativeZero(s string) string {
	if strings.Trim(s, "-0.") == "" {
		return strings.TrimPrefix(s, "-")
	}
	return s
}
func fg(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

// codeFigures are the shares of each status code seen on either side, and
// errorFigures the shares of each error kind; a code absent from a run is
// 0 % of it.
func codeFigures(runs []*result.Run) []figure {
	var out []figure
	for _, code := range keysOf(runs, func(r *result.Run) map[string]int { return r.Codes }) {
		better := -1
		if strings.HasPrefix(code, "2") {
			better = +1
		}
		out = append(out, figure{name: "code " + code + " %", get: share(code, func(r *result.Run) map[string]int { return r.Codes }), format: f2, unit: registry.Points, better: better})
	}
	for _, kind := range keysOf(runs, func(r *result.Run) map[string]int { return r.Errors }) {
		out = append(out, figure{name: "error " + kind + " %", get: share(kind, func(r *result.Run) map[string]int { return r.Errors }), format: f2, unit: registry.Points, better: -1})
	}
	return out
}

func share(key string, m func(*result.Run) map[string]int) func(*result.Run) (float64, bool) {
	return func(r *result.Run) (float64, bool) {
		if r.Requests == 0 {
			return 0, false
		}
		return 100 * float64(m(r)[key]) / float64(r.Requests), true
	}
}

// keysOf returns every key that m gives for any of runs, sorted.
func keysOf[V any](runs []*result.Run, m func(*result.Run) map[string]V) []string {
	seen := map[string]bool{}
	for _, r := range runs {
		for k := range m(r) {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// extraFigures are the numbers of summary.json's runs that no other figure
// covers (fields added after this file was written), by their JSON path.
// Their direction is unknown, so a change is "changed", not better or
// worse.
func extraFigures(runs []*result.Run) []figure {
	var out []figure
	for _, p := range keysOf(runs, numbers) {
		out = append(out, figure{name: p, get: func(r *result.Run) (float64, bool) {
			v, ok := numbers(r)[p]
			return v, ok
		}, format: fg})
	}
	return out
}

// numbers flattens the JSON of r into its numeric leaves, by dotted path,
// leaving out shownFields.
func numbers(r *result.Run) map[string]float64 {
	out := map[string]float64{}
	b, err := json.Marshal(r)
	if err != nil {
		return out
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case float64:
			out[prefix] = v
		case bool:
			if v {
				out[prefix] = 1
			} else {
				out[prefix] = 0
			}
		case map[string]any:
			for k, x := range v {
				walk(prefix+"."+k, x)
			}
		}
	}
	for k, v := range m {
		if !slices.Contains(shownFields, k) {
			walk(k, v)
		}
	}
	return out
}

// spread is one figure over the runs of one side.
type spread struct {
	n            int
	mean, lo, hi float64
	format       func(float64) string
}

func spreadOf(vals []float64, format func(float64) string) spread {
	s := spread{n: len(vals), format: format}
	if len(vals) == 0 {
		return s
	}
	s.lo, s.hi = slices.Min(vals), slices.Max(vals)
	for _, v := range vals {
		s.mean += v
	}
	s.mean /= float64(len(vals))
	return s
}

// String is the mean, and the range when there are several runs.
func (s spread) String() string {
	switch {
	case s.n == 0:
		return "-"
	case s.n == 1 || s.lo == s.hi:
		return s.format(s.mean)
	}
	return fmt.Sprintf("%s (%s–%s)", s.format(s.mean), s.format(s.lo), s.format(s.hi))
}

// Compare prints, for every mode and rate present in both a and b, each
// figure of a, of b, and the change from a to b, with the default options.
func Compare(w io.Writer, a, b *result.Scenario, nameA, nameB string) error {
	return CompareSides(w, Side{Name: nameA, Runs: []*result.Scenario{a}}, Side{Name: nameB, Runs: []*result.Scenario{b}}, CompareOptions{})
}

// CompareSides prints, for every mode and rate both sides share, each
// figure of a, of b, the change from a to b and a verdict: "better" or
// "worse" when the change is beyond the threshold (and, with several runs
// on a side, beyond their spread), "within noise" when the ranges of the
// runs overlap, "changed" for a figure that is neither better nor worse,
// nothing when the change is below the threshold. It warns first about
// what makes the comparison doubtful (see warnings): other machines, Go
// versions or commits, interrupted runs, generator-limited steps, steps of
// other lengths, and modes or rates only one side has.
func CompareSides(w io.Writer, a, b Side, opt CompareOptions) error {
	if len(a.Runs) == 0 || len(b.Runs) == 0 {
		return fmt.Errorf("compare: each side needs a result directory")
	}
	if opt.Threshold <= 0 {
		opt.Threshold = DefaultThreshold
	}
	if opt.Points <= 0 {
		opt.Points = DefaultPoints
	}
	fmt.Fprintf(w, "scenario %s\nA = %s\nB = %s\n", a.Runs[0].Name, a.Name, b.Name)
	fmt.Fprintf(w, "unchanged below %s (shares: %s points)", fg(100*opt.Threshold)+"%", fg(opt.Points))
	if len(a.Runs) > 1 || len(b.Runs) > 1 {
		fmt.Fprintf(w, "; A has %d runs, B %d: values are mean (min–max)", len(a.Runs), len(b.Runs))
	}
	fmt.Fprintln(w)
	for _, warn := range warnings(a, b) {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w)

	var rows []comparedFigure
	row := func(label, rate string, f figure, va, vb []float64) {
		if r, ok := newComparedFigure(label, rate, f, va, vb, opt); ok {
			rows = append(rows, r)
		}
	}
	common := 0
	for _, k := range runKeys(a.Runs[0]) {
		ra, rb := runsOf(a, k), runsOf(b, k)
		if len(ra) == 0 || len(rb) == 0 {
			continue
		}
		common++
		label := Label(ra[0].Variant, ra[0].Mode, ra[0].PoolSize)
		all := append(slices.Clone(ra), rb...)
		for _, f := range slices.Concat(figures, codeFigures(all), extraFigures(all)) {
			row(label, load.FormatRate(k.rate), f, values(ra, f), values(rb, f))
		}
	}
	for _, ca := range a.Runs[0].Capacity {
		if len(capacities(b, ca.Variant)) == 0 {
			continue
		}
		common++
		for _, f := range capacityFigures {
			row(Label(ca.Variant, ca.Mode, ca.PoolSize), "", f.figure, capacityValues(a, ca.Variant, f.get), capacityValues(b, ca.Variant, f.get))
		}
	}
	for _, l := range limitFigures {
		va, vb := limitValues(a, l.get), limitValues(b, l.get)
		if len(va) > 0 && len(vb) > 0 {
			row("limit", "", l.figure, va, vb)
		}
	}
	if common == 0 {
		return fmt.Errorf("compare: no mode and rate in common")
	}
	// What changed beyond noise comes first: among a hundred rows, the
	// few that matter are easy to miss.
	var changed []comparedFigure
	for _, r := range rows {
		if r.verdict != "" && r.verdict != "within noise" {
			changed = append(changed, r)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(changed) == 0 {
		fmt.Fprintln(w, "Beyond noise: nothing changed.")
	} else {
		fmt.Fprintf(w, "Beyond noise: %d of %d figures changed.\n", len(changed), len(rows))
		for _, r := range changed {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.label, r.rate, r.name, r.a, r.b, r.delta, r.verdict)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("compare: %w", err)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(tw, "mode\trate\tfigure\tA\tB\tdelta\tchange\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.label, r.rate, r.name, r.a, r.b, r.delta, r.verdict)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

// comparedFigure is one figure of one mode and rate, formatted.
type comparedFigure struct {
	label, rate, name string
	a, b              spread
	delta, verdict    string
}

// newComparedFigure formats one figure; false for a figure neither side has.
func newComparedFigure(label, rate string, f figure, va, vb []float64, opt CompareOptions) (comparedFigure, bool) {
	if len(va) == 0 && len(vb) == 0 {
		return comparedFigure{}, false
	}
	sa, sb := spreadOf(va, f.format), spreadOf(vb, f.format)
	return comparedFigure{label: label, rate: rate, name: f.name, a: sa, b: sb, delta: delta(sa, sb, f), verdict: verdict(sa, sb, f, opt)}, true
}

func values(runs []*result.Run, f figure) []float64 {
	var out []float64
	for _, r := range runs {
		if v, ok := f.get(r); ok {
			out = append(out, v)
		}
	}
	return out
}

// runKey names a measured run: a variant at a rate.
type runKey struct {
	variant string
	rate    float64
}

func runKeys(s *result.Scenario) []runKey {
	var out []runKey
	for _, r := range s.Runs {
		if k := (runKey{r.Variant, r.Rate}); !r.Probe && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// runsOf returns the run k of each directory of side that has it.
func runsOf(side Side, k runKey) []*result.Run {
	var out []*result.Run
	for _, s := range side.Runs {
		if r, ok := s.Run(k.variant, k.rate); ok {
			out = append(out, r)
		}
	}
	return out
}

// capacities returns the capacity of variant in each directory of side
// that searched it.
func capacities(side Side, variant string) []float64 {
	return capacityValues(side, variant, func(c *result.Capacity) (float64, bool) { return c.Capacity, true })
}

func capacityValues(side Side, variant string, get func(*result.Capacity) (float64, bool)) []float64 {
	var out []float64
	for _, s := range side.Runs {
		for i := range s.Capacity {
			if c := &s.Capacity[i]; c.Variant == variant {
				if v, ok := get(c); ok {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// capacityFigures are the figures of a capacity search: the capacity, and
// how long it held (the scenario's hold, 0 when no rate held), which says
// how much each side's capacity is worth.
var capacityFigures = []struct {
	figure
	get func(*result.Capacity) (float64, bool)
}{
	{figure{name: "capacity req/s", format: f0, better: +1}, func(c *result.Capacity) (float64, bool) { return c.Capacity, true }},
	{figure{name: "capacity held for s", format: fg}, func(c *result.Capacity) (float64, bool) { return c.HeldFor.Seconds(), true }},
}

// limitFigures are the limits of the workload: they come from the
// backends' models (sampled when the models are random), so a change says
// that the two sides did not measure the same workload. Sampled limits
// also show how many requests were simulated and how well that pins them
// down (the half-width of their 95 % confidence interval).
var limitFigures = []struct {
	figure
	get func(*dist.Limits) (float64, bool)
}{
	{limitMs("critical path p50 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.CriticalPath.P50 })},
	{limitMs("critical path p90 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.CriticalPath.P90 })},
	{limitMs("critical path p99 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.CriticalPath.P99 })},
	{limitMs("critical path p99.9 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.CriticalPath.P999 })},
	{limitMs("levels p50 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.Levels.P50 })},
	{limitMs("levels p99 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.Levels.P99 })},
	{limitMs("sum p50 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.Sum.P50 })},
	{limitMs("sum p99 ms"), limitDist(func(l *dist.Limits) time.Duration { return l.Sum.P99 })},
	{figure{name: "simulated requests", format: f0}, sampled(func(l *dist.Limits) float64 { return float64(l.Samples) })},
	{figure{name: "uncertainty ±%", format: f2, unit: registry.Points}, sampled(func(l *dist.Limits) float64 { return 100 * l.Uncertainty })},
}

func limitMs(name string) figure { return figure{name: name, format: f2} }

func limitDist(get func(*dist.Limits) time.Duration) func(*dist.Limits) (float64, bool) {
	return func(l *dist.Limits) (float64, bool) { return msOf(get(l)), true }
}

// sampled reads a figure of the simulation, which fixed limits (one
// request through the call graph, exact) do not have.
func sampled(get func(*dist.Limits) float64) func(*dist.Limits) (float64, bool) {
	return func(l *dist.Limits) (float64, bool) {
		if l.Fixed || l.Samples == 0 {
			return 0, false
		}
		return get(l), true
	}
}

func limitValues(side Side, get func(*dist.Limits) (float64, bool)) []float64 {
	var out []float64
	for _, s := range side.Runs {
		if s.Limits != nil {
			if v, ok := get(s.Limits); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// warnings lists what makes a comparison doubtful: other scenarios,
// machines or code, interrupted runs, runs whose load generator could not
// keep up, runs of other lengths, and what only one side has.
func warnings(a, b Side) []string {
	var out []string
	if na, nb := a.Runs[0].Name, b.Runs[0].Name; na != nb {
		out = append(out, fmt.Sprintf("comparing scenario %s with %s", na, nb))
	}
	for _, side := range []Side{a, b} {
		for _, s := range side.Runs[1:] {
			if d := envDiff(side.Runs[0].Env, s.Env); d != "" {
				out = append(out, fmt.Sprintf("the runs of %s differ in %s", side.Name, d))
				break
			}
		}
	}
	if d := envDiff(a.Runs[0].Env, b.Runs[0].Env); d != "" {
		out = append(out, "A and B differ in "+d)
	}
	sides := []struct {
		side Side
		name string
	}{{a, "A"}, {b, "B"}}
	for _, x := range sides {
		for i, s := range x.side.Runs {
			which := x.name
			if len(x.side.Runs) > 1 {
				which = fmt.Sprintf("run %d of %s", i+1, x.name)
			}
			if s.Interrupted {
				out = append(out, which+" was interrupted: it holds only the steps that finished")
			}
			if slices.ContainsFunc(s.Runs, func(r result.Run) bool { return r.Requests > 0 && r.Complete+r.Partial+r.Failed == 0 }) {
				out = append(out, which+" predates the complete/partial/failed split: its throughput counted every success, partial answers too")
			}
		}
	}
	thin := false
	for _, k := range runKeys(a.Runs[0]) {
		ra, rb := runsOf(a, k), runsOf(b, k)
		if len(ra) == 0 || len(rb) == 0 {
			continue
		}
		for _, r := range slices.Concat(ra, rb) {
			thin = thin || !r.EnoughSamples()
		}
		at := fmt.Sprintf("%s @ %s req/s", k.variant, load.FormatRate(k.rate))
		for _, x := range []struct {
			runs []*result.Run
			name string
		}{{ra, "A"}, {rb, "B"}} {
			// A generator that could not send the offered rate timed
			// itself: its latencies and rates are not the gateway's.
			var sent []string
			for _, r := range x.runs {
				if r.GeneratorLimited {
					sent = append(sent, f1(r.Summary.Rate))
				}
			}
			if len(sent) > 0 {
				out = append(out, fmt.Sprintf("%s was generator-limited in %s (sent %s req/s): its figures measure the load generator, not the gateway",
					at, x.name, strings.Join(sent, ", ")))
			}
			if slices.ContainsFunc(x.runs, func(r *result.Run) bool { return r.LoadSaturated }) {
				out = append(out, fmt.Sprintf("%s was load saturated in %s: the load generator and the mocks used or waited for nearly all their CPUs, so its figures describe them as much as the gateway", at, x.name))
			}
		}
		// Runs of other lengths count other numbers of requests, and a
		// shorter warm-up leaves more of the gateway's start in the
		// figures.
		if wa, wb := ra[0].Window, rb[0].Window; wa > 0 && wb > 0 && wa != wb {
			out = append(out, fmt.Sprintf("%s was measured over %s in A and %s in B", at, wa, wb))
		}
		if wa, wb := ra[0].Warmup, rb[0].Warmup; wa != wb {
			out = append(out, fmt.Sprintf("%s was warmed up for %s in A and %s in B", at, wa, wb))
		}
	}
	if thin {
		out = append(out, fmt.Sprintf("p99 and p99.9 are left out where a run has fewer than %d requests: they rest on a handful of them", load.MinSamples))
	}
	for _, pair := range []struct {
		this, other Side
		name        string
	}{{a, b, "A"}, {b, a, "B"}} {
		for _, s := range pair.this.Runs {
			for _, k := range runKeys(s) {
				if len(runsOf(pair.other, k)) == 0 {
					msg := fmt.Sprintf("%s @ %s req/s only in %s", k.variant, load.FormatRate(k.rate), pair.name)
					if !slices.Contains(out, msg) {
						out = append(out, msg)
					}
				}
			}
			for _, c := range s.Capacity {
				if len(capacities(pair.other, c.Variant)) == 0 {
					msg := fmt.Sprintf("the capacity of %s only in %s", c.Variant, pair.name)
					if !slices.Contains(out, msg) {
						out = append(out, msg)
					}
				}
			}
		}
	}
	return out
}

// envDiff names what differs between two environments: the machine, the
// Go version, the code.
func envDiff(a, b result.Env) string {
	var d []string
	add := func(what, x, y string) {
		if x != y {
			d = append(d, fmt.Sprintf("%s (%s vs %s)", what, orUnknown(x), orUnknown(y)))
		}
	}
	add("CPU", a.CPU, b.CPU)
	add("cores", strconv.Itoa(a.Cores), strconv.Itoa(b.Cores))
	add("OS", a.OS, b.OS)
	add("kernel", a.Kernel, b.Kernel)
	add("Go version", a.GoVersion, b.GoVersion)
	add("commit", commit(a), commit(b))
	add("the CPUs' split", splitText(a), splitText(b))
	return strings.Join(d, ", ")
}

func commit(e result.Env) string {
	c := e.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if e.Dirty {
		c += "+dirty"
	}
	return c
}

func delta(a, b spread, f figure) string {
	if a.n == 0 {
		return "new"
	}
	if b.n == 0 {
		return "gone"
	}
	switch f.unit {
	case registry.Points:
		return fmt.Sprintf("%+.2f pt", b.mean-a.mean)
	case registry.Absolute:
		d := f.format(b.mean - a.mean)
		if !strings.HasPrefix(d, "-") {
			d = "+" + d
		}
		return d + f.suffix
	}
	if a.mean == 0 {
		if b.mean == 0 {
			return "0%"
		}
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b.mean-a.mean)/math.Abs(a.mean))
}

// verdict calls a change better or worse when it is beyond the threshold
// and, with several runs on a side, when the ranges of the two sides do
// not overlap; an overlap is "within noise". Smaller changes are left
// unmarked.
func verdict(a, b spread, f figure, opt CompareOptions) string {
	if a.n == 0 || b.n == 0 {
		return ""
	}
	d := b.mean - a.mean
	switch {
	case f.unit == registry.Points && math.Abs(d) < opt.Points:
		return ""
	case f.unit == registry.Absolute && math.Abs(d) < f.noise:
		return ""
	case f.unit == registry.Relative && a.mean == 0 && b.mean == 0:
		return ""
	case f.unit == registry.Relative && a.mean != 0 && math.Abs(d)/math.Abs(a.mean) < opt.Threshold:
		return ""
	case f.unit == registry.Relative && math.Abs(d) < f.noise:
		return ""
	}
	if (a.n > 1 || b.n > 1) && a.lo <= b.hi && b.lo <= a.hi {
		return "within noise"
	}
	switch {
	case f.better == 0:
		return "changed"
	case (d > 0) == (f.better > 0):
		return "better"
	}
	return "worse"
}
