// Package report turns a scenario's results into what a person reads:
// report.md (failed expectations first, then tables where every figure
// stands beside its limit) and SVG charts drawn with gonum's plot package.
// It also compares two result directories figure by figure.
package report

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
)

// ReportFile is the name of the Markdown report in a result directory.
const ReportFile = "report.md"

// Write renders report.md and the charts of s into dir.
func Write(dir string, s *result.Scenario) error {
	charts, err := WriteCharts(dir, s)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, ReportFile))
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := Markdown(f, s, charts); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Rebuild writes report.md and the charts of the result directory dir again
// from its summary.json: for a run that was interrupted, or a report whose
// code has changed since.
func Rebuild(dir string) error {
	s, err := result.Read(dir)
	if err != nil {
		return fmt.Errorf("rebuild report: %w", err)
	}
	if err := Write(dir, s); err != nil {
		return fmt.Errorf("rebuild report of %s: %w", dir, err)
	}
	return nil
}

// Markdown writes the report of s; charts are file names (relative to the
// report) with their titles, shown at the end.
func Markdown(w io.Writer, s *result.Scenario, charts []Chart) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# %s\n\n", s.Name)
	if s.Interrupted {
		fmt.Fprintf(b, "> **INTERRUPTED**: this run was stopped before the end. The tables hold only the steps that finished (%d); "+
			"the step cut short was dropped, and the expectations are judged on what finished.\n\n", len(s.Runs))
	}
	if s.Description != "" {
		fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(s.Description))
	}
	e := s.Env
	commit := e.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if e.Dirty {
		commit += " (with local changes)"
	}
	fmt.Fprintf(b, "Ran %s for %s on %s, %d cores, %s, %s, commit %s.\n\n",
		s.Started.UTC().Format("2006-01-02 15:04 MST"), s.Elapsed.Round(time.Second), orUnknown(e.CPU), e.Cores, e.GoVersion, e.OS, orUnknown(commit))
	writeMachine(b, s)

	failed, undecided := s.Failed(), s.Undecided()
	switch {
	case len(s.Expectations) == 0:
		b.WriteString("No expectations.\n\n")
	case len(failed) == 0:
		fmt.Fprintf(b, "**%s.**\n\n", upper(s.Verdict()))
	default:
		fmt.Fprintf(b, "## FAILED: %d of %d expectations\n\n", len(failed), len(s.Expectations))
		for _, x := range failed {
			fmt.Fprintf(b, "- `%s` — %s\n", x.Source, x.Detail)
		}
		b.WriteString("\n")
	}
	if len(undecided) > 0 {
		fmt.Fprintf(b, "Neither held nor failed (%d): they rest on too little data or on steps that never ran.\n\n", len(undecided))
		for _, x := range undecided {
			fmt.Fprintf(b, "- %s: `%s` — %s\n", x.Verdict, x.Source, x.Detail)
		}
		b.WriteString("\n")
	}
	for _, msg := range s.Errors {
		fmt.Fprintf(b, "- error: %s\n", msg)
	}
	if len(s.Errors) > 0 {
		b.WriteString("\n")
	}

	if s.Cost == nil {
		// A cost scenario measures CPU, whose limit is the floor in its
		// table, not latency.
		writeLimits(b, s)
	}
	writeCost(b, s)
	if len(s.Capacity) > 0 {
		writeCapacity(b, s)
	} else {
		for _, rate := range s.Rates {
			writeRateTable(b, s, rate)
		}
		if len(s.Targets) > 1 {
			writeTargets(b, s)
		}
		if len(s.Phases) > 0 {
			writePhases(b, s)
		}
	}
	writeResources(b, s)
	writePolicies(b, s)
	if len(s.Expectations) > 0 {
		b.WriteString("## Expectations\n\n| | expectation | figures |\n|---|---|---|\n")
		for _, x := range s.Expectations {
			mark := x.Mark()
			if mark == "FAIL" {
				mark = "**FAIL**"
			}
			fmt.Fprintf(b, "| %s | `%s` | %s |\n", mark, x.Source, x.Detail)
		}
		b.WriteString("\n")
	}
	if len(charts) > 0 {
		b.WriteString("## Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(b, "### %s\n\n![%s](%s)\n\n", c.Title, c.Title, c.File)
		}
	}
	b.WriteString("## Files\n\n`scenario.yaml` (the scenario as run), `env.json` (machine), `summary.json` (every figure, durations in ns), " +
		"`<mode>-<rate>.bin` (vegeta results: `vegeta report < concurrent-200.bin`).\n")
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string {
	return strconv.FormatFloat(result.Millis(d), 'f', 2, 64)
}

func writeLimits(b *strings.Builder, s *result.Scenario) {
	b.WriteString("## Limits\n\n")
	if s.Limits == nil {
		fmt.Fprintf(b, "%s\n\n", orUnknown(s.LimitsNote))
		return
	}
	l := s.Limits
	switch {
	case l.Fixed:
		b.WriteString("Fixed backend latencies: each limit is one number (ms).\n\n")
	case l.Samples > 0:
		fmt.Fprintf(b, "Random backend latencies: each limit is a distribution, from %d simulated requests through the call graph (ms), "+
			"known within ±%.1f%% (95%% confidence): a measured figure that close to a limit, or below it, is not a difference.\n\n",
			l.Samples, 100*l.Uncertainty)
	default:
		fmt.Fprintf(b, "Random backend latencies: each limit is a distribution, from %d simulated requests through the call graph (ms).\n\n", dist.DefaultSamples)
	}
	b.WriteString("| limit | what it is | p50 | p90 | p99 | p99.9 |\n|---|---|---:|---:|---:|---:|\n")
	row := func(name, what string, d dist.Dist) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", name, what, Ms(d.P50), Ms(d.P90), Ms(d.P99), Ms(d.P999))
	}
	row("critical path", "longest chain of dependent calls: no gateway can beat it", l.CriticalPath)
	row("levels", "slowest call of each dependency level, added up: staged", l.Levels)
	row("sum", "every call one after another: sequential", l.Sum)
	b.WriteString("\n")
	if s.LimitsNote != "" {
		fmt.Fprintf(b, "%s\n\n", s.LimitsNote)
	}
}

func ratio(d, limit time.Duration) string {
	if limit <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(d)/float64(limit), 'f', 2, 64)
}

// ratioBeside formats the run's d over limit, and, below 1, why the run
// beat what no gateway can beat (result.Run.BelowLimit).
func ratioBeside(r *result.Run, d, limit time.Duration, l *dist.Limits) string {
	out := ratio(d, limit)
	if limit <= 0 {
		return out
	}
	if why := r.BelowLimit(float64(d)/float64(limit), l); why != "" {
		out += " (" + why + ")"
	}
	return out
}

// p99 formats a p99, or says it rests on fewer than load.MinSamples requests.
func p99(sum load.Summary, d time.Duration) string {
	if !sum.EnoughSamples() {
		return fmt.Sprintf("not enough data (%d requests)", sum.Requests)
	}
	return Ms(d)
}

// trend formats a latency slope (s/s) in ms per second, without a "-0.0".
func trend(slope float64) string {
	ms := math.Round(slope*1e4) / 10
	if ms == 0 {
		ms = 0 // not -0
	}
	return strconv.FormatFloat(ms, 'f', 1, 64)
}

// p99Ratio is ratio for a p99, "–" when it rests on too few requests.
func p99Ratio(sum load.Summary, d, limit time.Duration) string {
	if !sum.EnoughSamples() {
		return "–"
	}
	return ratio(d, limit)
}

// sent formats the achieved rate, flagged when the generator fell short of
// the offered rate.
func sent(r *result.Run) string {
	f := strconv.FormatFloat(r.Summary.Rate, 'f', 1, 64)
	if r.GeneratorLimited {
		f += " **generator-limited**"
	}
	if r.LoadSaturated {
		f += " **" + LoadSaturatedText(r) + "**"
	}
	return f
}

// split formats the complete, partial and failed fractions of sum as three
// cells; "–" for a summary written before they were recorded.
func split(sum load.Summary) string {
	if sum.Complete+sum.Partial+sum.Failed == 0 {
		return "– | – | –"
	}
	return pct(sum.Complete) + " | " + pct(sum.Partial) + " | " + pct(sum.Failed)
}

func pct(f float64) string {
	return strconv.FormatFloat(100*f, 'f', 2, 64) + "%"
}

func writeRateTable(b *strings.Builder, s *result.Scenario, rate float64) {
	fmt.Fprintf(b, "## %s\n\n", rateHeading(s, rate))
	b.WriteString("Latencies in ms; ×cp is the figure divided by the critical path (p50 by its p50, p99 by its p99). " +
		"Sent is the rate the load generator achieved (**generator-limited** below 97 % of the offered rate: the step measured the machine, not the gateway). " +
		"Throughput is the complete answers delivered per second (those arriving in a window as long as the measured one, shifted by their median latency, so a gateway that queues is credited with its own pace); success counts every 2xx, complete (no `Fanout-Partial` header) or partial, and failed the rest.\n\n")
	b.WriteString("| mode | p50 | p90 | p99 | p99.9 | max | p50 ×cp | p99 ×cp | sent/s | throughput/s | success | complete | partial | failed | codes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	staged := slices.ContainsFunc(s.Runs, func(r result.Run) bool { return r.Mode == "staged" })
	if l := s.Limits; l != nil {
		fmt.Fprintf(b, "| *critical path* | *%s* | *%s* | *%s* | *%s* | | *1.00* | *1.00* | | | | | | | |\n",
			Ms(l.CriticalPath.P50), Ms(l.CriticalPath.P90), Ms(l.CriticalPath.P99), Ms(l.CriticalPath.P999))
		if staged {
			fmt.Fprintf(b, "| *levels* | *%s* | *%s* | *%s* | *%s* | | *%s* | *%s* | | | | | | | |\n",
				Ms(l.Levels.P50), Ms(l.Levels.P90), Ms(l.Levels.P99), Ms(l.Levels.P999), ratio(l.Levels.P50, l.CriticalPath.P50), ratio(l.Levels.P99, l.CriticalPath.P99))
		}
		fmt.Fprintf(b, "| *sum* | *%s* | *%s* | *%s* | *%s* | | *%s* | *%s* | | | | | | | |\n",
			Ms(l.Sum.P50), Ms(l.Sum.P90), Ms(l.Sum.P99), Ms(l.Sum.P999), ratio(l.Sum.P50, l.CriticalPath.P50), ratio(l.Sum.P99, l.CriticalPath.P99))
	}
	for _, v := range s.Variants {
		r, ok := s.Run(v, rate)
		if !ok {
			fmt.Fprintf(b, "| %s | not run | | | | | | | | | | | | | |\n", variantLabel(s, v))
			continue
		}
		var cp50, cp99 time.Duration
		if s.Limits != nil {
			cp50, cp99 = s.Limits.CriticalPath.P50, s.Limits.CriticalPath.P99
		}
		lt := r.Latency
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s |\n",
			Label(r.Variant, r.Mode, r.PoolSize), Ms(lt.P50), Ms(lt.P90), p99(r.Summary, lt.P99), p99(r.Summary, lt.P999), Ms(lt.Max), ratioBeside(r, lt.P50, cp50, s.Limits), p99Ratio(r.Summary, lt.P99, cp99),
			sent(r), r.Throughput, pct(r.Success), split(r.Summary), load.FormatCounts(r.Codes))
	}
	b.WriteString("\n")
	if s.Limits != nil && staged {
		for _, v := range s.Variants {
			if r, ok := s.Run(v, rate); ok && r.Mode == "staged" {
				fmt.Fprintf(b, "%s beside its own limit, the levels: p50 ×levels %s, p99 ×levels %s.\n\n", Label(r.Variant, r.Mode, r.PoolSize),
					ratioBeside(r, r.Latency.P50, s.Limits.Levels.P50, s.Limits), ratio(r.Latency.P99, s.Limits.Levels.P99))
			}
		}
	}
}

// rateHeading heads the table of one offered rate: "400 req/s offered",
// and, where the load generator fell short of it, what it sent, so the
// heading does not claim load that never reached the gateway.
func rateHeading(s *result.Scenario, rate float64) string {
	h := load.FormatRate(rate) + " req/s offered"
	var short []string
	for _, v := range s.Variants {
		if r, ok := s.Run(v, rate); ok && r.GeneratorLimited {
			short = append(short, fmt.Sprintf("%s %s", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(math.Round(r.Summary.Rate))))
		}
	}
	if len(short) > 0 {
		h += ", less sent (generator-limited): " + strings.Join(short, ", ")
	}
	return h
}

// phaseRate formats the rate a phase offered, and what was sent where the
// generator fell short of it.
func phaseRate(r *result.Run, p load.Summary) string {
	offered := r.PhaseRate(p)
	if !p.Limited(offered) {
		return load.FormatRate(offered)
	}
	return fmt.Sprintf("%s (sent %s)", load.FormatRate(offered), load.FormatRate(math.Round(p.Rate)))
}

func writePhases(b *strings.Builder, s *result.Scenario) {
	b.WriteString("## Phases\n\nEach run split by request start at the scenario's events:\n\n")
	for _, e := range s.Events {
		fmt.Fprintf(b, "- at %s, phase `%s`: %s\n", e.At, e.Phase, e.Describe())
	}
	b.WriteString("\n")
	b.WriteString("| mode | rate | phase | requests | p50 | p99 | max | success | complete | partial | failed | codes |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range s.Runs {
		for _, ph := range s.Phases {
			p, ok := r.Phases[ph]
			if !ok {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", Label(r.Variant, r.Mode, r.PoolSize), phaseRate(&r, p), ph,
				p.Requests, Ms(p.Latency.P50), p99(p, p.Latency.P99), Ms(p.Latency.Max), pct(p.Success), split(p), load.FormatCounts(p.Codes))
		}
	}
	b.WriteString("\n")
}

func writeCapacity(b *strings.Builder, s *result.Scenario) {
	b.WriteString("## Capacity\n\nThe highest rate (req/s) that met the SLO for the whole hold, with no latency trend. " +
		"Short probes find where each mode breaks (doubling, then bisection); the rate they settle on must then hold, or the search bisects down, holding each candidate. " +
		"A probe passes only on at least 1,000 requests and a load generator that sent the offered rate; success here means complete answers.\n\n")
	b.WriteString("| mode | SLO | capacity | held for | short probes passed | first failure | probes | exhausted budget |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, c := range s.Capacity {
		ceil := "none up to max"
		if c.Ceiling > 0 {
			ceil = load.FormatRate(c.Ceiling)
		}
		// The finding in bold, the reason for a non-finding beside it.
		what, why, _ := strings.Cut(CapacityText(c), " (")
		capa, held := "**"+what+"**", c.HeldFor.String()
		if why != "" {
			capa += " (" + why
		}
		if c.Capacity <= 0 {
			held = "–"
		}
		fmt.Fprintf(b, "| %s | p99 ≤ %s ms, complete ≥ %s | %s | %s | %s | %s | %d | %v |\n",
			Label(c.Variant, c.Mode, c.PoolSize), Ms(c.SLO.P99), pct(c.SLO.Success), capa, held, load.FormatRate(c.Searched), ceil, len(c.Points), c.Exhausted)
	}
	b.WriteString("\n### Probes\n\n| mode | kind | rate | length | requests | sent/s | p50 | p99 | latency trend (ms/s) | complete | verdict |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range s.Capacity {
		// Probes and their runs are in the same order.
		var runs []result.Run
		for _, r := range s.Runs {
			if r.Variant == c.Variant && r.Probe {
				runs = append(runs, r)
			}
		}
		for i, p := range c.Points {
			verdict := "pass"
			if !p.Pass {
				verdict = "fail"
				if p.Why != "" {
					verdict += ": " + p.Why
				}
			}
			kind := "probe"
			if p.Hold {
				kind = "hold"
			}
			var p50 time.Duration
			achieved := "–"
			if i < len(runs) && runs[i].Rate == p.Rate {
				p50, achieved = runs[i].Latency.P50, sent(&runs[i])
			}
			p99s := Ms(p.P99)
			if p.Requests > 0 { // 0: a summary from before probes counted them
				p99s = p99(load.Summary{Requests: p.Requests}, p.P99)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", Label(c.Variant, c.Mode, c.PoolSize), kind, load.FormatRate(p.Rate), p.Duration,
				p.Requests, achieved, Ms(p50), p99s, trend(p.Slope), pct(p.Success), verdict)
		}
	}
	b.WriteString("\n")
}

func writeResources(b *strings.Builder, s *result.Scenario) {
	if len(s.Runs) == 0 {
		return
	}
	b.WriteString("## Gateway resources and backend calls\n\n")
	b.WriteString("RSS and goroutine growth compare the gateway just after the measured attack with just before it. " +
		"CPU/request is the gateway's user+sys time from the end of the warm-up to the last response of the measured attack, divided by its requests: " +
		"it includes what the gateway spends beside the requests in that window (GC, timers, the harness's /metrics samples every 500 ms), not its start-up or warm-up, so its fixed part weighs less per request as the rate rises. " +
		"Load CPU is the load generator's own user+sys time over the attack as a share of the machine's cores: when it is high, the machine, not the gateway, may be the limit.\n\n")
	b.WriteString("| mode | rate | requests | cpu/request (ms) | load cpu | peak RSS (MiB) | RSS growth (MiB) | goroutine growth | backend calls/request | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(b, "| %s | %s | %d | %.3f | %s | %.1f | %+.1f | %+d | %.2f | %s |\n", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(r.Rate), r.Requests,
			result.Millis(r.CPUPerRequest), pct(r.GeneratorCPUShare), float64(r.PeakRSS)/(1<<20), float64(r.RSSGrowth)/(1<<20), r.GoroutineGrowth,
			r.CallsPerRequest, load.FormatCounts(r.Errors))
	}
	b.WriteString("\n")
}

func writeTargets(b *strings.Builder, s *result.Scenario) {
	b.WriteString("## By target\n\nEach kind of request apart, beside its own critical path (ms).\n\n")
	b.WriteString("| mode | rate | target | requests | p50 | critical p50 | p99 | critical p99 | p99 ×cp | success | complete |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rate := range s.Rates {
		for _, v := range s.Variants {
			r, ok := s.Run(v, rate)
			if !ok {
				continue
			}
			for _, t := range s.Targets {
				sum, ok := r.Targets[t]
				if !ok {
					continue
				}
				cp50, cp99 := "–", "–"
				var lim99 time.Duration
				if l, ok := s.TargetLimits[t]; ok {
					cp50, cp99, lim99 = Ms(l.CriticalPath.P50), Ms(l.CriticalPath.P99), l.CriticalPath.P99
				}
				fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(rate), t, sum.Requests,
					Ms(sum.Latency.P50), cp50, p99(sum, sum.Latency.P99), cp99, ratio(sum.Latency.P99, lim99), pct(sum.Success), strings.SplitN(split(sum), " | ", 2)[0])
			}
		}
	}
	b.WriteString("\n")
}

// CapacityText says what a capacity search found, in req/s: the rate that
// held, or why none did ("below 100 (every probe failed)", "below 40 (not
// enough samples)", "none held"), never a bare 0.
func CapacityText(c result.Capacity) string {
	switch {
	case c.Capacity > 0 && c.LoadBound:
		return fmt.Sprintf("at least %s (load-bound: the load side could not offer %s)", load.FormatRate(c.Capacity), load.FormatRate(c.Ceiling))
	case c.Capacity > 0:
		return load.FormatRate(c.Capacity)
	case c.Floor > 0:
		return fmt.Sprintf("below %.0f (not enough samples)", c.Floor)
	case c.Searched == 0 && c.Ceiling > 0:
		return fmt.Sprintf("below %s (every probe failed)", load.FormatRate(c.Ceiling))
	}
	return "none held"
}

// upper starts a sentence: the first letter in upper case (the verdicts
// start with an ASCII word or a digit).
func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
