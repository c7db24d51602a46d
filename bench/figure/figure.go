// Package figure is the registry of the bench's figures: every number of
// a run that an expectation may name, that the report shows and that
// `bench compare` compares, declared once, with its unit, description,
// getter, direction, noise floor and column. The scenario's expectation
// names, the harness's evaluation, the report's policy table, compare and
// the rate charts all read it, so that a new figure is one entry of All.
//
// Figures that are not a run's own number live beside it, where their
// data are: the limits (scenario.LimitNames), a capacity search's
// capacity, the shares of status codes (code_NNN) and the per-backend
// call rates (calls_per_s_SERVICE), and the figures of the fleet and
// cost scenarios, which have records of their own.
package figure

import (
	"errors"

	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/mockbackends/model"
)

// Change says how `bench compare` measures a change of a figure.
type Change int

const (
	// Relative changes are measured relative to the first side.
	Relative Change = iota
	// Points changes are measured in percentage points: 99 % to 98 % is
	// one point, where relatively it would hide among the latencies'
	// noise, and 0.1 % to 0.2 % would be "+100 %".
	Points
	// Absolute changes are measured by their own amount: for a figure
	// about 0 (a trend, a growth), whose relative change is noise.
	Absolute
)

// Source is what a figure is read from: a run, the summary that a name
// refers to (the run's, or one of its phases'), and the scenario's limits
// (nil when it has none).
type Source struct {
	Run    *result.Run
	Sum    load.Summary
	Limits *dist.Limits
}

// ErrNoLimits is the error of a figure that needs the scenario's limits
// when the scenario has none.
var ErrNoLimits = errors.New("no limits")

// Figure is one number of a run.
type Figure struct {
	// Name is the figure's name in expectations ("p99",
	// "cpu_per_request").
	Name string
	// Unit is the unit of the value Get returns: "ms", "fraction",
	// "req/s", "MiB", "ms/s"; "" for a count or a ratio.
	Unit string
	// Description says what the figure is.
	Description string
	// Get reads the figure, in Unit. An error says the source lacks what
	// the figure needs (ErrNoLimits).
	Get func(Source) (float64, error)
	// Has reports whether a recorded run carries the figure: a
	// summary.json written before the figure existed does not, nor a part
	// of the answers that had none (no refused answer, no p99 of them).
	// Compare leaves such a run out; an expectation reads Get all the
	// same, so that "refused_p99 < 5" holds when nothing was refused.
	// nil: every run has it.
	Has func(*result.Run) bool
	// Tail marks a figure that rests on a run's slowest requests (a p99,
	// a p99.9): on fewer than load.MinSamples requests an expectation on
	// it is not enough data, and compare leaves the run out.
	Tail bool
	// Better is -1 when lower is better, +1 when higher is, 0 when a
	// change is neither (a count that depends on the run's length, a
	// figure of the load generator rather than of the gateway).
	Better int

	// Column is the figure's name in the report and in compare ("p99
	// ms"). A figure without one says why in NotShown.
	Column string
	// NotShown says why a figure without a Column is not compared: the
	// registry's test requires a Column or a reason, so that no figure is
	// forgotten.
	NotShown string
	// Scale turns Get's value into the column's (100 for a fraction shown
	// in percent); 0 means 1.
	Scale float64
	// Digits is the number of decimals of the column.
	Digits int
	// Change says how compare measures a change of the column.
	Change Change
	// Noise is the change, in the column's unit, below which compare calls
	// the figure unchanged: for an Absolute figure its only threshold, for
	// a relative one a floor beside the relative threshold, so that a
	// figure near 0 does not call a small change "+2146 %". 0: none.
	Noise float64
	// Suffix follows an absolute change (" ms/s").
	Suffix string
	// Fields are the fields of a run in summary.json that the figure
	// reads: compare does not compare them a second time as unnamed
	// numbers.
	Fields []string

	// Series is the gateway's /metrics counter that counts the figure,
	// summed over its labels: the harness reads it before and after each
	// attack into the run's Policies, under Name. "" for the others.
	Series string
	// Policy marks a figure of the gateway's call policies: the report's
	// call policies table has a column of it.
	Policy bool
}

// ColumnValue returns the figure's value of r in its column's unit; false when
// r does not carry it (see Has and Tail) or Get fails.
func (f *Figure) ColumnValue(r *result.Run) (float64, bool) {
	if (f.Has != nil && !f.Has(r)) || (f.Tail && !r.EnoughSamples()) {
		return 0, false
	}
	v, err := f.Get(Source{Run: r, Sum: r.Summary})
	if err != nil {
		return 0, false
	}
	if f.Scale != 0 {
		v *= f.Scale
	}
	return v, true
}

// Lookup returns the figure named name.
func Lookup(name string) (*Figure, bool) {
	f, ok := byName[name]
	return f, ok
}

// Names returns every figure's name, in the registry's order.
func Names() []string {
	out := make([]string, len(All))
	for i := range All {
		out[i] = All[i].Name
	}
	return out
}

var byName = map[string]*Figure{}

func init() {
	for _, svc := range model.Services {
		All = append(All, Figure{Name: "calls_per_request_" + svc, Description: "calls to the " + svc + " backend per public request",
			Get: ofRun(func(r *result.Run) float64 {
				if r.Requests == 0 {
					return 0
				}
				return float64(r.BackendCalls[svc]) / float64(r.Requests)
			}),
			Better:   -1,
			NotShown: "summary.json's backend_calls holds the counts; compare shows the calls per request of all backends (calls/req)"})
	}
	for i := range All {
		f := &All[i]
		// A name declared twice keeps its first entry; the registry's
		// test refuses it.
		if _, dup := byName[f.Name]; !dup {
			byName[f.Name] = f
		}
	}
}

func ofSum(f func(load.Summary) float64) func(Source) (float64, error) {
	return func(s Source) (float64, error) { return f(s.Sum), nil }
}

func ofRun(f func(*result.Run) float64) func(Source) (float64, error) {
	return func(s Source) (float64, error) { return f(s.Run), nil }
}

// latency reads a statistic of a part of the answers, in ms.
func latency(part func(load.Summary) load.Latency, stat string) func(Source) (float64, error) {
	return func(s Source) (float64, error) {
		d, _ := part(s.Sum).Stat(stat)
		return result.Millis(d), nil
	}
}

func all(s load.Summary) load.Latency     { return s.Latency }
func ok(s load.Summary) load.Latency      { return s.OKLatency }
func failed(s load.Summary) load.Latency  { return s.FailedLatency }
func refused(s load.Summary) load.Latency { return s.RefusedLatency }

// answered reports whether a run has answers in part: a summary.json
// older than the split has none.
func answered(part func(load.Summary) load.Latency) func(*result.Run) bool {
	return func(r *result.Run) bool { return part(r.Summary).Max > 0 }
}

// split reports whether a run has the complete/partial/failed split,
// which a summary.json written before it lacks.
func split(r *result.Run) bool { return r.Complete+r.Partial+r.Failed > 0 }

// ratio divides a latency of the run by the critical path's.
func ratio(stat string) func(Source) (float64, error) {
	return func(s Source) (float64, error) {
		if s.Limits == nil {
			return 0, ErrNoLimits
		}
		d, _ := s.Sum.Latency.Stat(stat)
		limit, _ := s.Limits.CriticalPath.Stat(stat)
		if limit <= 0 {
			return 0, ErrNoLimits
		}
		return float64(d) / float64(limit), nil
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// The absolute floors of the gateway's resources, below which a change is
// unchanged whatever its relative size. The Go runtime's heap grows and
// shrinks by a few MiB between runs of the same code (a GC cycle more or
// less, the load generator's connections), a few goroutines come and go
// with the connections open at the moment of a sample, and the CPU time
// per request of a short step moves by tens of microseconds with the
// clock tick that the kernel accounts it in.
const (
	RSSNoiseMiB      = 4.0
	GoroutineNoise   = 10.0
	CPUPerReqNoiseMs = 0.05
)

// TrendNoise is the change of a latency trend, in ms per second of run,
// below which compare calls it unchanged. A trend is about 0 when the
// gateway keeps up, so its relative change is noise (0.1 to 0.3 ms/s is
// "+200 %"); 1 ms/s is 10 ms over a 10 s run, about the jitter of a p50
// on a shared laptop.
const TrendNoise = 1.0

const (
	notShownPart   = "compare shows the p99 of each part of the answers (served, failed, refused p99)"
	notShownPolicy = "summary.json's policies field holds it: compare compares it there by its path"
)

// All are the figures of a run, in the order compare shows them. The
// calls per request of each backend follow, one per mock service.
var All = []Figure{
	{Name: "p50", Unit: "ms", Description: "median latency (ms)", Get: latency(all, "p50"), Better: -1, Column: "p50 ms", Digits: 2, Fields: []string{"latency"}},
	{Name: "p90", Unit: "ms", Description: "90th percentile latency (ms)", Get: latency(all, "p90"), Better: -1, Column: "p90 ms", Digits: 2},
	{Name: "p99", Unit: "ms", Description: "99th percentile latency (ms)", Get: latency(all, "p99"), Tail: true, Better: -1, Column: "p99 ms", Digits: 2},
	{Name: "p999", Unit: "ms", Description: "99.9th percentile latency (ms)", Get: latency(all, "p999"), Tail: true, Better: -1, Column: "p99.9 ms", Digits: 2},
	{Name: "max", Unit: "ms", Description: "maximum latency (ms)", Get: latency(all, "max"), Better: -1, Column: "max ms", Digits: 2},
	{Name: "mean", Unit: "ms", Description: "mean latency (ms)", Get: latency(all, "mean"), Better: -1, Column: "mean ms", Digits: 2},
	{Name: "requests", Description: "requests sent", Get: ofSum(func(s load.Summary) float64 { return float64(s.Requests) }),
		Column: "requests", Fields: []string{"requests"}},
	// An older summary.json has no sending rate (it shared the JSON name
	// "rate" with the offered rate and was lost).
	{Name: "achieved_rate", Unit: "req/s", Description: "rate the load generator actually sent (requests per second)",
		Get: ofSum(func(s load.Summary) float64 { return s.Rate }), Has: func(r *result.Run) bool { return r.Summary.Rate > 0 },
		Column: "sent/s", Digits: 1, Fields: []string{"achieved_rate"}},
	{Name: "throughput", Unit: "req/s", Description: "complete answers the gateway delivered per second: those arriving in a window as long as the measured one, shifted by their median latency (never above achieved_rate)",
		Get: ofSum(func(s load.Summary) float64 { return s.Throughput }), Better: +1, Column: "throughput/s", Digits: 1, Fields: []string{"throughput"}},
	{Name: "success", Unit: "fraction", Description: "fraction of requests answered 2xx, complete or partial",
		Get: ofSum(func(s load.Summary) float64 { return s.Success }), Better: +1, Column: "success %", Scale: 100, Digits: 2, Change: Points, Fields: []string{"success"}},
	{Name: "complete", Unit: "fraction", Description: "fraction of requests answered 2xx without the Fanout-Partial header",
		Get: ofSum(func(s load.Summary) float64 { return s.Complete }), Has: split, Better: +1, Column: "complete %", Scale: 100, Digits: 2, Change: Points, Fields: []string{"complete"}},
	{Name: "partial", Unit: "fraction", Description: "fraction of requests answered 2xx with the Fanout-Partial header (a part missing)",
		Get: ofSum(func(s load.Summary) float64 { return s.Partial }), Has: split, Better: -1, Column: "partial %", Scale: 100, Digits: 2, Change: Points, Fields: []string{"partial"}},
	{Name: "failed", Unit: "fraction", Description: "fraction of requests answered otherwise (not 2xx, or no answer)",
		Get: ofSum(func(s load.Summary) float64 { return s.Failed }), Has: split, Better: -1, Column: "failed %", Scale: 100, Digits: 2, Change: Points, Fields: []string{"failed"}},
	// Trends and growths are about 0 when the gateway keeps up and
	// nothing leaks: they change by their own amount.
	{Name: "latency_trend", Unit: "ms/s", Description: "least-squares slope of latency over the run (ms per second of run): about 0 when the gateway keeps up",
		Get: ofRun(func(r *result.Run) float64 { return 1000 * r.LatencySlope }), Better: -1, Column: "latency trend ms/s", Digits: 1,
		Change: Absolute, Noise: TrendNoise, Suffix: " ms/s", Fields: []string{"latency_slope"}},
	{Name: "cpu_per_request", Unit: "ms", Description: "gateway CPU time per request (ms)",
		Get: ofRun(func(r *result.Run) float64 { return result.Millis(r.CPUPerRequest) }), Better: -1, Column: "cpu/req ms", Digits: 3,
		Noise: CPUPerReqNoiseMs, Fields: []string{"cpu", "cpu_per_request"}},
	// The load generator's CPU describes the generator, not the gateway:
	// a change is "changed", and a generator-limited run is a warning.
	{Name: "generator_cpu", Unit: "fraction", Description: "share of the machine's cores the load generator used during the attack (fraction)",
		Get: ofRun(func(r *result.Run) float64 { return r.GeneratorCPUShare }), Column: "load cpu %", Scale: 100, Digits: 1, Change: Points,
		Fields: []string{"generator_cpu", "generator_cpu_share"}},
	{Name: "rss_mb", Unit: "MiB", Description: "gateway peak resident memory (MiB)",
		Get: ofRun(func(r *result.Run) float64 { return mib(r.PeakRSS) }), Better: -1, Column: "peak RSS MiB", Digits: 1, Noise: RSSNoiseMiB, Fields: []string{"peak_rss"}},
	{Name: "rss_growth_mb", Unit: "MiB", Description: "gateway resident memory after the attack minus before (MiB)",
		Get: ofRun(func(r *result.Run) float64 { return mib(r.RSSGrowth) }), Better: -1, Column: "RSS growth MiB", Digits: 1,
		Change: Absolute, Noise: RSSNoiseMiB, Suffix: " MiB", Fields: []string{"rss_growth"}},
	{Name: "peak_goroutines", Description: "gateway goroutines at the busiest sample of the attack",
		Get: ofRun(peakGoroutines), Has: func(r *result.Run) bool { return len(r.Samples) > 0 }, Better: -1, Column: "peak goroutines",
		Noise: GoroutineNoise, Fields: []string{"samples"}},
	{Name: "goroutine_growth", Description: "gateway goroutines after the attack minus before",
		Get: ofRun(func(r *result.Run) float64 { return float64(r.GoroutineGrowth) }), Better: -1, Column: "goroutine growth",
		Change: Absolute, Noise: GoroutineNoise, Fields: []string{"goroutine_growth"}},
	{Name: "calls_per_request", Description: "backend calls per public request",
		Get: ofRun(func(r *result.Run) float64 { return r.CallsPerRequest }), Better: -1, Column: "calls/req", Digits: 2, Fields: []string{"calls_per_request", "backend_calls"}},
	// The served and the failed answers apart (a shed or refused answer
	// is fast, a served page is not); an older summary.json has neither.
	{Name: "ok_p99", Unit: "ms", Description: "99th percentile latency of the requests answered 2xx/3xx (ms)", Get: latency(ok, "p99"), Has: answered(ok), Tail: true, Better: -1,
		Column: "served p99 ms", Digits: 2, Fields: []string{"ok_latency"}},
	{Name: "failed_p99", Unit: "ms", Description: "99th percentile latency of the requests answered otherwise (ms)", Get: latency(failed, "p99"), Has: answered(failed), Tail: true, Better: -1,
		Column: "failed p99 ms", Digits: 2, Fields: []string{"failed_latency"}},
	{Name: "refused_p99", Unit: "ms", Description: "99th percentile latency of the 503 answers (ms)", Get: latency(refused, "p99"), Has: answered(refused), Tail: true, Better: -1,
		Column: "refused p99 ms", Digits: 2, Fields: []string{"refused_latency"}},
	{Name: "ok_p50", Unit: "ms", Description: "median latency of the requests answered 2xx/3xx (ms)", Get: latency(ok, "p50"), Better: -1, NotShown: notShownPart},
	{Name: "ok_max", Unit: "ms", Description: "maximum latency of the requests answered 2xx/3xx (ms)", Get: latency(ok, "max"), Better: -1, NotShown: notShownPart},
	{Name: "failed_p50", Unit: "ms", Description: "median latency of the requests answered otherwise: shed, refused, failed (ms)", Get: latency(failed, "p50"), Better: -1, NotShown: notShownPart},
	{Name: "failed_max", Unit: "ms", Description: "maximum latency of the requests answered otherwise (ms)", Get: latency(failed, "max"), Better: -1, NotShown: notShownPart},
	{Name: "refused_p50", Unit: "ms", Description: "median latency of the 503 answers: refused before any work (ms)", Get: latency(refused, "p50"), Better: -1, NotShown: notShownPart},
	{Name: "refused_max", Unit: "ms", Description: "maximum latency of the 503 answers (ms)", Get: latency(refused, "max"), Better: -1, NotShown: notShownPart},
	{Name: "rate", Unit: "req/s", Description: "offered rate (requests per second): a phase's own, where an event changes it; over a whole run, the mean",
		Get:      func(s Source) (float64, error) { return s.Run.PhaseRate(s.Sum), nil },
		NotShown: "the scenario sets the offered rate: compare pairs runs by it", Fields: []string{"rate", "offered_rate"}},
	{Name: "errors", Unit: "fraction", Description: "fraction of requests that failed (not 2xx)",
		Get: ofSum(func(s load.Summary) float64 { return 1 - s.Success }), Better: -1, NotShown: "it is 1 - success, which compare shows"},
	{Name: "ratio_p50", Description: "p50 divided by the critical path's p50", Get: ratio("p50"), Better: -1,
		NotShown: "compare shows the p50 and the limits apart, and a change of either"},
	{Name: "ratio_p99", Description: "p99 divided by the critical path's p99", Get: ratio("p99"), Tail: true, Better: -1,
		NotShown: "compare shows the p99 and the limits apart, and a change of either"},
	policy("hedges_sent", "fanout_hedges_sent_total", "hedged duplicates the gateway sent during the attack", true),
	policy("hedges_won", "fanout_hedges_won_total", "calls a hedged duplicate answered first", true),
	policy("coalesced_calls", "fanout_coalesced_calls_total", "backend calls answered by another request's identical call", true),
	policy("cache_hits", "fanout_cache_hits_total", "backend calls answered by a call's response cache", true),
	policy("cache_misses", "fanout_cache_misses_total", "cached calls the cache could not answer", true),
	{Name: "pages_compared", Description: "URLs whose 2xx bodies were compared with an earlier run at the same rate (load.compare_bodies)",
		Get: ofRun(func(r *result.Run) float64 { return float64(r.PagesCompared) }), Policy: true,
		NotShown: "summary.json's pages_compared holds it: compare compares it there by its name"},
	{Name: "pages_differing", Description: "URLs answered with different bodies within the run or from an earlier run at the same rate (load.compare_bodies)",
		Get: ofRun(func(r *result.Run) float64 { return float64(r.PagesDiffering) }), Policy: true,
		NotShown: "summary.json's pages_differing holds it: compare compares it there by its name"},
	// Answers for another resource than asked, which the gateway refused
	// and asked again for (a backend's stray answers).
	policy("stray_answers", "fanout_backend_stray_answers_total", "backend answers for another resource than asked, which the gateway refused and asked again for", false),
}

// policy declares a counter of the gateway's /metrics, summed over its
// labels, read into a run's Policies.
func policy(name, series, description string, table bool) Figure {
	return Figure{Name: name, Description: description, Series: series, Policy: table, NotShown: notShownPolicy,
		Get: ofRun(func(r *result.Run) float64 { return r.Policies[name] })}
}

func peakGoroutines(r *result.Run) float64 {
	n := 0
	for _, s := range r.Samples {
		n = max(n, s.Goroutines)
	}
	return float64(n)
}
