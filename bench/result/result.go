// Package result holds what a benchmark run records: the figures of each
// mode and rate, the limits beside them, the capacity searches and the
// verdict of each expectation. It is what summary.json holds (durations in nanoseconds, as vegeta writes them); the harness
// writes it, the report and `bench compare` read it.
package result

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/launch"
	"fanout/bench/load"
)

// SummaryFile is the name of the JSON file in each result directory.
const SummaryFile = "summary.json"

// Scenario is the outcome of one scenario.
type Scenario struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	File        string        `json:"file"`
	Started     time.Time     `json:"started"`
	Elapsed     time.Duration `json:"elapsed"`
	Env         Env           `json:"env"`
	// Target is the root URL of the gateway the scenario ran against
	// when bench did not start it (bench -target): then the gateway's
	// CPU, memory and policies were not measured.
	Target string `json:"target,omitempty"`
	// Variants in the order they ran (labels).
	Variants []string `json:"variants"`
	// Rates offered (fixed-rate scenarios).
	Rates []float64 `json:"rates,omitempty"`
	// Limits of the workload under the scenario's backend models; nil if
	// they could not be computed (LimitsNote says why).
	Limits     *dist.Limits `json:"limits,omitempty"`
	LimitsNote string       `json:"limits_note,omitempty"`
	// Targets names the targets; TargetLimits has the limits of each
	// target alone, when there are several.
	Targets      []string               `json:"targets,omitempty"`
	TargetLimits map[string]dist.Limits `json:"target_limits,omitempty"`
	// Phases of each run, if the scenario has events, and the events that
	// start them (after the first).
	Phases []string `json:"phases,omitempty"`
	Events []Event  `json:"events,omitempty"`
	// Runs are the measured runs (for a capacity search: every probe).
	Runs []Run `json:"runs"`
	// Capacity has one search per variant, for capacity scenarios.
	Capacity []Capacity `json:"capacity,omitempty"`
	// Cost is the table of a cost scenario: CPU and allocations per
	// request of each configuration, each beside the floor.
	Cost *Cost `json:"cost,omitempty"`
	// Floor compares, in any other scenario, the gateway's CPU per
	// results page with the CPU floor's, on the scenario's backends, in
	// a short block of rounds side by side after its steps.
	Floor *Cost `json:"floor,omitempty"`
	// Expectations in file order.
	Expectations []Expectation `json:"expectations"`
	// Errors met while running (a gateway that would not start...).
	Errors []string `json:"errors,omitempty"`
	// Interrupted is true when the run was stopped (Ctrl-C) before the
	// end: Runs hold only the steps that finished.
	Interrupted bool `json:"interrupted,omitempty"`
	// Seed seeded the mock backends' random draws (latencies, faults) and
	// the limits' simulation. Each execution of a scenario draws its own,
	// so repetitions are independent samples; passing it back replays one.
	Seed uint64 `json:"seed"`
}

// Run is one mode at one rate.
type Run struct {
	Variant  string  `json:"variant"`
	Mode     string  `json:"mode"`
	PoolSize int     `json:"pool_size,omitempty"`
	Rate     float64 `json:"rate"`
	// File is the vegeta results file, relative to the directory.
	File string `json:"file"`
	load.Report
	// CPU is the gateway's user+sys time during the measured attack;
	// CPUPerRequest divides it by the requests.
	CPU           time.Duration `json:"cpu"`
	CPUPerRequest time.Duration `json:"cpu_per_request"`
	// PeakRSS is the gateway's peak resident memory, in bytes.
	PeakRSS int64 `json:"peak_rss"`
	// BackendCalls counts requests each backend served during the attack;
	// CallsPerRequest is their sum divided by the public requests.
	BackendCalls    map[string]int64 `json:"backend_calls,omitempty"`
	CallsPerRequest float64          `json:"calls_per_request"`
	// Policies holds what the gateway's policies did during the attack,
	// from its /metrics: the call policies' counters over the attack
	// (hedges_sent, hedges_won, coalesced_calls, cache_hits, cache_misses,
	// those it declares; stray_answers, the answers for another resource
	// it refused and asked again for), and the resilience series at the end of the run,
	// by full series name (requests shed, the overload limit, breaker
	// transitions and refusals, retries).
	Policies map[string]float64 `json:"policies,omitempty"`
	// PagesCompared counts, with load.compare_bodies, the URLs whose
	// bodies were compared with an earlier run at the same rate, and
	// PagesDiffering those whose bodies differed there or within the run.
	PagesCompared  int `json:"pages_compared,omitempty"`
	PagesDiffering int `json:"pages_differing,omitempty"`
	// PhaseBackendCalls counts, in a run with events, the requests each
	// backend served during each phase (by phase name, then backend), in
	// wall time from the phase's event to the next one or the end.
	PhaseBackendCalls map[string]map[string]int64 `json:"phase_backend_calls,omitempty"`
	// Samples watch the gateway over the measured attack (about every
	// SampleEvery), with one sample just before and one just after it;
	// RSSGrowth and GoroutineGrowth compare those two. GoroutineGrowth
	// counts goroutines beyond one per open client connection, when the
	// gateway reports its connections: connections the load generator
	// keeps open after a burst are not a leak.
	Samples         []Sample `json:"samples,omitempty"`
	RSSGrowth       int64    `json:"rss_growth"`
	GoroutineGrowth int      `json:"goroutine_growth"`
	// Probe is true for a run made by a capacity search, Hold for one of
	// its long probes confirming a rate.
	Probe bool `json:"probe,omitempty"`
	Hold  bool `json:"hold,omitempty"`
	// Warmup is how long the gateway was warmed up before the measured
	// attack, which alone the figures describe.
	Warmup time.Duration `json:"warmup"`
	// Hostile is what the scenario's hostile tenant did and met during
	// the measured attack, if it has one.
	Hostile *Hostile `json:"hostile,omitempty"`
	// Fleet is what a fleet scenario's step did to its fleet and saw of
	// its shared state.
	Fleet *Fleet `json:"fleet,omitempty"`
	// GeneratorLimited is true when the load generator sent less than
	// load.GeneratorLimit of the offered rate (OfferedRate): the step
	// measured the generator or the machine, not the gateway. Its own CPU
	// use is GeneratorCPU.
	GeneratorLimited bool `json:"generator_limited"`
	// MocksCPU is the mock backends' user+sys time over the measured
	// attack; MocksCPUShare divides it by the attack's wall time and the
	// CPUs of the load side, which the mocks share with the generator
	// (Env.Split). LoadSaturated is true when the generator's share, the
	// mocks' and the load side's wait for a CPU (LoadWaitShare) add up to
	// load.SaturatedShare or more: the load side used or wanted all of
	// its CPUs, the step measured it rather than the gateway, and a
	// capacity search does not count it as a pass.
	MocksCPU      time.Duration `json:"mocks_cpu,omitempty"`
	MocksCPUShare float64       `json:"mocks_cpu_share,omitempty"`
	LoadSaturated bool          `json:"load_saturated,omitempty"`
	// LoadWait is the time the load side's threads (the generators' and
	// the mocks') waited, runnable, for a CPU over the attack, and
	// LoadWaitShare that over its wall time and the load side's CPUs:
	// the CPU they wanted beyond what they got, which other processes
	// on a busy machine take. It counts towards LoadSaturated.
	LoadWait      time.Duration `json:"load_cpu_wait,omitempty"`
	LoadWaitShare float64       `json:"load_cpu_wait_share,omitempty"`
}

// SamplingSlack is how far under a sampled limit a run's p50 may lie and
// still be put down to sampling: the limit's own uncertainty is often
// tenths of a percent, but the run's p50 is a sample too, of a few
// thousand requests whose latencies the mocks draw at random.
const SamplingSlack = 0.05

// BelowLimit says why the run's latency is below a limit it cannot beat,
// given ratio, the figure over the limit (below 1), and l, the scenario's
// limits. The limits assume that every page makes its own backend calls:
// a run whose pages shared calls (coalesced onto one in flight, or served
// from the cache) was not bound by them, and that is what it says. Else a
// sampled limit's ratio within the sampling is just that; a ratio beyond
// it, or under a fixed limit, which has none, says the limit does
// not describe the run (see SamplingSlack). "" for a ratio of 1 or more.
func (r *Run) BelowLimit(ratio float64, l *dist.Limits) string {
	if ratio >= 1 || l == nil {
		return ""
	}
	under := 100 * (1 - ratio)
	var shared []string
	for _, p := range []struct{ key, what string }{{"coalesced_calls", "coalesced calls"}, {"cache_hits", "cache hits"}} {
		if n := r.Policies[p.key]; n > 0 {
			shared = append(shared, fmt.Sprintf("%.0f %s", n, p.what))
		}
	}
	switch {
	case len(shared) > 0:
		return fmt.Sprintf("%.0f%% under the limit, which leaves out shared calls (%s): it assumes every page makes its own", under, strings.Join(shared, ", "))
	case l.Fixed:
		return fmt.Sprintf("%.0f%% under a fixed limit, which has no uncertainty: the limit does not describe this run", under)
	case 1-ratio <= max(l.Uncertainty, SamplingSlack):
		return fmt.Sprintf("within the sampling of the limit (±%.1f%%) and of the run", 100*l.Uncertainty)
	}
	return fmt.Sprintf("%.0f%% under the limit, beyond its uncertainty of ±%.1f%%: the limit does not describe this run", under, 100*l.Uncertainty)
}

// Hostile is what a scenario's hostile tenant did and met in one run,
// beside the measured load: its slow uploads, and the figures of its own
// requests.
type Hostile struct {
	// From is the phase it started in.
	From     string              `json:"from"`
	Uploads  *load.TrickleReport `json:"uploads,omitempty"`
	Requests *load.Summary       `json:"requests,omitempty"`
}

// OfferedRate is the rate the run offered over its measured window: its
// Rate, or the mean of its phases' rates where events changed it. Results
// written before the offered rate was recorded give Rate.
func (r *Run) OfferedRate() float64 {
	if r.Summary.Offered > 0 {
		return r.Summary.Offered
	}
	return r.Rate
}

// PhaseRate is the rate offered in the phase whose summary is sum: its own,
// or, in results written before it was recorded, the run's Rate.
func (r *Run) PhaseRate(sum load.Summary) float64 {
	if sum.Offered > 0 {
		return sum.Offered
	}
	return r.Rate
}

// Sample is the state of the gateway at one moment of a run.
type Sample struct {
	Offset     time.Duration `json:"offset"` // from the start of the measured attack
	RSS        int64         `json:"rss"`    // resident memory, bytes
	Goroutines int           `json:"goroutines"`
	// Connections are the gateway's open client connections; -1 if unknown.
	Connections int `json:"connections"`
}

// Capacity is the capacity search of one variant.
type Capacity struct {
	Variant  string `json:"variant"`
	Mode     string `json:"mode"`
	PoolSize int    `json:"pool_size,omitempty"`
	SLO      struct {
		P99     time.Duration `json:"p99"`
		Success float64       `json:"success"`
	} `json:"slo"`
	capacity.Result
}

// Event is a change of a backend's model during each run.
type Event struct {
	At    time.Duration `json:"at"`
	Phase string        `json:"phase"`
	// Service and Change say which backend's model changed and how: the
	// new latency model, "set" or "restore" ("" for a change of rate
	// alone).
	Service string `json:"service,omitempty"`
	Change  string `json:"change,omitempty"`
	// Rate is the offered rate from here on, if the event changes it.
	Rate float64 `json:"rate,omitempty"`
	// Fleet is the action on a fleet scenario's fleet ("kill"), if any.
	Fleet string `json:"fleet,omitempty"`
}

// Describe says what the event changes: "results latency fixed:3s",
// "rate 100/s", or both.
func (e Event) Describe() string {
	var parts []string
	if e.Service != "" {
		parts = append(parts, strings.TrimSpace(e.Service+" "+e.Change))
	}
	if e.Rate > 0 {
		parts = append(parts, "rate "+strconv.FormatFloat(e.Rate, 'f', -1, 64)+"/s")
	}
	if e.Fleet != "" {
		parts = append(parts, "fleet "+e.Fleet)
	}
	return strings.Join(parts, ", ")
}

// Expectation is the verdict of one assertion.
type Expectation struct {
	Source string `json:"source"`
	// Pass is true when the expectation holds (Verdict Holds).
	Pass bool `json:"pass"`
	// Verdict is one of Holds, Fails, NotEnoughData and NotRun. Results
	// written before it was recorded have none: Pass alone tells.
	Verdict string `json:"verdict,omitempty"`
	// Detail shows both sides, per rate: "@50: 41.20 <= 42.00".
	Detail string `json:"detail"`
}

// The verdicts of an expectation. An expectation on figures that are not
// enough data (a p99 of a few hundred requests) or that were never measured
// (the steps an interrupted run did not reach) neither holds nor fails: it
// is undecided, and shown apart from both.
const (
	Holds         = "holds"
	Fails         = "FAILED"
	NotEnoughData = "not enough data"
	NotRun        = "not run"
)

// Decided reports whether the expectation held or failed, as opposed to
// resting on too little data or on steps that never ran.
func (e Expectation) Decided() bool {
	return e.Verdict != NotEnoughData && e.Verdict != NotRun
}

// Mark is the verdict as the report and the progress lines show it: "pass",
// "FAIL", or the reason it is undecided.
func (e Expectation) Mark() string {
	switch {
	case e.Pass:
		return "pass"
	case e.Decided():
		return "FAIL"
	}
	return e.Verdict
}

// Env describes the machine and the code a run measured.
type Env struct {
	CPU       string    `json:"cpu"`
	Cores     int       `json:"cores"`
	GoVersion string    `json:"go_version"`
	OS        string    `json:"os"`
	Kernel    string    `json:"kernel,omitempty"`
	Commit    string    `json:"commit,omitempty"`
	Dirty     bool      `json:"dirty,omitempty"`
	Time      time.Time `json:"time"`
	// LoadAverage is the machine's one-minute load average when the run
	// started (/proc/loadavg): above Cores, other processes competed for
	// the CPUs the run measured.
	LoadAverage float64 `json:"load_average,omitempty"`
	// Split is how the CPUs were shared between the gateway and the load
	// side; nil in results written before it was recorded.
	Split *launch.Split `json:"cpu_split,omitempty"`
}

// Millis returns d in milliseconds, rounded to the microsecond.
func Millis(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// Write writes s as summary.json in dir.
func Write(dir string, s *Scenario) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// Read reads summary.json from dir.
func Read(dir string) (*Scenario, error) {
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Scenario
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read summary %s: %w", dir, err)
	}
	return &s, nil
}

// Run returns the run of variant at rate, if any.
func (s *Scenario) Run(variant string, rate float64) (*Run, bool) {
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Variant == variant && r.Rate == rate && !r.Probe {
			return r, true
		}
	}
	return nil, false
}

// Failed returns the expectations that failed: those that did not hold on
// figures worth judging.
func (s *Scenario) Failed() []Expectation {
	var out []Expectation
	for _, e := range s.Expectations {
		if !e.Pass && e.Decided() {
			out = append(out, e)
		}
	}
	return out
}

// Undecided returns the expectations that neither held nor failed: on too
// little data, or on steps that never ran.
func (s *Scenario) Undecided() []Expectation {
	var out []Expectation
	for _, e := range s.Expectations {
		if !e.Decided() {
			out = append(out, e)
		}
	}
	return out
}

// Verdict sums up the expectations in a phrase: "all 5 expectations hold",
// "1 of 5 expectations FAILED", each followed by the undecided ones apart
// ("; 2 not run, 1 not enough data").
func (s *Scenario) Verdict() string {
	n, failed, undecided := len(s.Expectations), len(s.Failed()), s.Undecided()
	if n == 0 {
		return "no expectations"
	}
	var v string
	switch held := n - failed - len(undecided); {
	case failed > 0:
		v = fmt.Sprintf("%d of %d expectations FAILED", failed, n)
	case held == n:
		v = fmt.Sprintf("all %d expectations hold", n)
	default:
		v = fmt.Sprintf("%d of %d expectations hold", held, n)
	}
	for _, kind := range []string{NotRun, NotEnoughData} {
		count := 0
		for _, e := range undecided {
			if e.Verdict == kind {
				count++
			}
		}
		if count > 0 {
			v += fmt.Sprintf("; %d %s", count, kind)
		}
	}
	return v
}
