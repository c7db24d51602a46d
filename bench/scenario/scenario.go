// Package scenario reads benchmark scenario files: YAML documents that say
// which backends to model, which gateway modes to compare, what to request,
// how hard, and what the outcome must show.
//
// Decoding is strict: an unknown field, a wrong type, a value out of range or
// an expectation that cannot be parsed or refers to nothing is an error that
// names the file, the line, the field path and the reason, so nothing starts
// on a bad file. The walk is package strictyaml's, which also reads the
// backends' models (package model) inside the file, so every problem of a
// file, in its own keys or in a model, is listed at once, in line order and
// in one wording. The format is documented in scenarios/README.md and by the
// commented files beside it.
package scenario

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"fanout/bench/expect"
	"fanout/bench/load"
	"fanout/mockbackends/model"
)

// Defaults used when a scenario leaves a setting out.
const (
	DefaultWarmup        = 1 * time.Second
	DefaultDuration      = 5 * time.Second
	DefaultTimeout       = load.DefaultTimeout
	DefaultSuccess       = 0.999
	DefaultCapacityStart = 50.0
	DefaultCapacityMax   = 5000.0
	DefaultStep          = 3 * time.Second
	DefaultBudget        = 60 * time.Second
	DefaultPrecision     = 0.1
	DefaultHold          = 10 * time.Second
)

// Scenario is one decoded, validated scenario file.
type Scenario struct {
	// Name identifies the scenario in reports and result directories; it
	// defaults to the file name without extension.
	Name string
	// Description says, in a sentence or two, what the scenario shows.
	Description string
	// File is the path the scenario was read from ("" if from a reader
	// without a name).
	File string
	// Source is the file's text, copied into the results.
	Source []byte
	// Backends are the mock backends' models (nil: the mocks' defaults).
	Backends model.Config
	// Gateway holds the modes to compare and the gateway's settings.
	Gateway Gateway
	// Targets are the requests to send, picked by weight.
	Targets []Target
	// Load says how hard and how long.
	Load Load
	// Events change the backends or the offered rate during each measured
	// run.
	Events []Event
	// Hostile, if not nil, is a second tenant that misbehaves beside the
	// measured load during each measured run.
	Hostile *Hostile
	// Cost, if not nil instead of Load's rates, measures the cost of each
	// feature of the gateway beside the CPU floor.
	Cost *Cost
	// Fleet, if not nil, runs each step on a fleet of replicas behind
	// HAProxy instead of one gateway.
	Fleet *Fleet
	// Expect are the assertions on the outcome, in file order.
	Expect []*expect.Expectation
}

// Gateway is the `gateway:` section.
type Gateway struct {
	// Modes to compare, each run in its own gateway process (default: all
	// of the gateway's, fanout.Modes, in its order).
	Modes []string
	// PoolSizes of the pool mode; each size is a variant of its own
	// (default: the gateway's, fanout.DefaultPoolSize).
	PoolSizes []int
	// MaxConns per backend (0: the gateway's default).
	MaxConns int
	// Deadline of one public request (0: the gateway's default).
	Deadline time.Duration
	// BackendTimeout of one backend call (0: the gateway's default).
	BackendTimeout time.Duration
	// Configs are named sets of further gateway flags, in file order: each
	// variant runs once per config, to compare one workload with a policy
	// on and off (e.g. `unhedged: -hedge-budget 0`). None: one run per
	// variant, with the gateway's defaults.
	Configs []Config
	// OverloadOff runs every variant with overload shedding off
	// (`overload: off`; the gateway's default is on). To compare shedding
	// on and off, Configs names both (`noshed: -overload off`).
	OverloadOff bool
	// Breaker turns the gateway's per-backend circuit breakers on.
	Breaker bool
}

// Config is a named set of gateway flags.
type Config struct {
	Name string
	Args []string
	// Line is the line of the scenario file that names it, for the
	// check of its flags against the gateway's.
	Line int
}

// Variant is one gateway configuration to measure: a mode, and for pool a
// pool size.
type Variant struct {
	// Label names the variant in reports, file names and expectations:
	// the mode, or "pool" followed by the size when a scenario compares
	// several pool sizes ("pool4", "pool64").
	Label    string
	Mode     string
	PoolSize int
	// Args are the flags of the variant's Config, if any.
	Args []string
}

// Variants expands the modes, pool sizes and configs into the variants to
// run, in the order of Modes, then of Configs.
func (g Gateway) Variants() []Variant {
	var out []Variant
	for _, m := range g.Modes {
		if m != "pool" {
			out = append(out, Variant{Label: m, Mode: m})
			continue
		}
		for _, n := range g.PoolSizes {
			label := "pool"
			if len(g.PoolSizes) > 1 {
				label = "pool" + strconv.Itoa(n)
			}
			out = append(out, Variant{Label: label, Mode: m, PoolSize: n})
		}
	}
	if len(g.Configs) == 0 {
		return out
	}
	// Each variant once per config, labelled by the config alone when
	// there is one variant ("hedged"), else by both ("concurrent_hedged").
	var withConfigs []Variant
	for _, v := range out {
		for _, c := range g.Configs {
			w := v
			w.Label, w.Args = c.Name, c.Args
			if len(out) > 1 {
				w.Label = v.Label + "_" + c.Name
			}
			withConfigs = append(withConfigs, w)
		}
	}
	return withConfigs
}

// Target is one kind of request, as a scenario's targets: section
// writes it: the attack library's target, whose fields the file sets one
// to one (name, method, path, ids, weight, body, zipf). The file's
// defaults are the decoder's: the path for Name, GET for Method, 1 for
// Weight; IDs are required when Path has "{id}".
type Target = load.Target

// IDRange is an inclusive range of ids.
type IDRange = load.IDRange

// Load is the `load:` section: either fixed Rates or a Capacity search.
type Load struct {
	// Warmup is sent before each measured run and not recorded.
	Warmup time.Duration
	// Duration of each measured run at one rate.
	Duration time.Duration
	// Rates are the offered rates in requests per second, in order.
	Rates []float64
	// Capacity, if set instead of Rates, searches the highest rate that
	// meets an SLO.
	Capacity *Capacity
	// Timeout of one request on the client side.
	Timeout time.Duration
	// Seed makes the choice of targets and ids reproducible.
	Seed uint64
	// CompareBodies reads every 2xx body and compares the bodies of each
	// URL within a run and with the earlier runs at the same rate (the
	// metrics pages_compared and pages_differing): a policy that shares
	// or caches answers must not change a page.
	CompareBodies bool
	// Generators, above 1, splits each step's rate across that many
	// generator processes (bench attack), whose results are merged: for
	// a rate one generator cannot send.
	Generators int
}

// MaxGenerators bounds load.generators: generators on one machine share
// its CPUs, and beyond a few they only compete for them.
const MaxGenerators = 16

// Capacity is a capacity search: the highest rate at which the complete
// answers stay at least Success and p99 at most P99, found by doubling from
// Start, then by bisection, and confirmed by a Hold at that rate with no
// latency trend (bisecting down if it does not hold), within Budget per
// variant.
type Capacity struct {
	P99     time.Duration
	Success float64
	Start   float64
	Max     float64
	Step    time.Duration // the duration of one short probe
	Hold    time.Duration // the duration of the probe that confirms a rate
	// MaxProbe bounds a probe lengthened to gather 1,000 requests (0: the
	// longer of Step and Hold).
	MaxProbe time.Duration
	// Budget bounds the search of one variant, warm-ups and start-ups
	// included.
	Budget    time.Duration
	Precision float64 // stop bisecting when hi-lo <= Precision*lo
}

// Event changes, during each measured run, one backend's model (through
// the mocks' admin API), the offered rate, or both. It starts a phase: the
// figures of a run are also given per phase, each over the phase's own
// window and rate, so expectations can speak of the degraded and the
// recovered stretches, or of the overload and the calm after it.
type Event struct {
	// At is the offset from the start of the measured run.
	At time.Duration
	// Name names the phase that starts here (default "event1", ...).
	Name string
	// Service whose model is replaced ("" if the event changes only the
	// rate).
	Service string
	// Set is the service's new model (nil fields mean the defaults);
	// Restore, if true instead, puts back the scenario's own model.
	Set     model.Service
	Restore bool
	// Rate, if above 0, is the offered rate from here on, in requests
	// per second, whatever the run's rate in load.rates; 0 keeps the rate
	// of the phase before.
	Rate float64
	// Fleet, in a fleet scenario, is the action on the fleet that starts
	// here (FleetActions; "" for none). Replica is the replica a kill
	// takes (1-based), and RestartAfter when it starts again.
	Fleet        string
	Replica      int
	RestartAfter time.Duration
}

// Hostile is a tenant other than the measured load's, with a token of its
// own and, where the machine allows, a client address of its own, that
// misbehaves during each measured run from the start of one phase to the
// end: slow uploads, requests of its own that may reach a hostile backend,
// or both. The measured figures stay the well-behaved token's alone, so
// that expectations can say what the hostile tenant costs the others.
type Hostile struct {
	// From names the phase the tenant starts in (default FirstPhase: the
	// start of the run).
	From string
	// Uploads, if not nil, are its slow uploads.
	Uploads *Uploads
	// Rate, with Targets, is its requests per second, in the open model
	// like the measured load's.
	Rate    float64
	Targets []Target
}

// Uploads are slow uploads: Clients POSTs to Path at once, each with Body
// sent BytesPerSecond bytes a second, each started again when it ends.
type Uploads struct {
	Clients        int
	BytesPerSecond int
	Path           string
	Body           string
}

// Bounds and defaults of a hostile tenant's uploads.
const (
	DefaultUploadPath = "/v2/experiments"
	MaxUploadClients  = 1000
	MaxUploadPace     = 1 << 20
)

// PhaseStart returns the offset of the phase named name into a measured
// run: 0 for FirstPhase, else its event's At.
func (s *Scenario) PhaseStart(name string) time.Duration {
	for _, e := range s.Events {
		if e.Name == name {
			return e.At
		}
	}
	return 0
}

// PhaseRates returns the offered rate of each phase of a run at rate:
// rate until an event changes it, then that event's, and so on. Nil
// without events.
func (s *Scenario) PhaseRates(rate float64) []float64 {
	if len(s.Events) == 0 {
		return nil
	}
	out := []float64{rate}
	for _, e := range s.Events {
		if e.Rate > 0 {
			rate = e.Rate
		}
		out = append(out, rate)
	}
	return out
}

// FirstPhase names the phase before the first event.
const FirstPhase = "before"

// Phases returns the names of the phases of a run: FirstPhase, then one per
// event.
func (s *Scenario) Phases() []string {
	if len(s.Events) == 0 {
		return nil
	}
	out := []string{FirstPhase}
	for _, e := range s.Events {
		out = append(out, e.Name)
	}
	return out
}

// RunOverhead is what a run costs beyond its warm-up and attack: starting
// a gateway, waiting for the last responses, stopping it.
const RunOverhead = 1500 * time.Millisecond

// FleetOverhead is what a step of a fleet scenario costs beyond its
// warm-up and attack: starting Redis (with its sentinels), the replicas
// and HAProxy, and stopping them through their drain.
const FleetOverhead = 10 * time.Second

// Estimate returns how long the scenario should take to run, start-up
// excluded: what a progress line counts down from.
func (s *Scenario) Estimate() time.Duration {
	if c := s.Cost; c != nil {
		return c.Estimate()
	}
	n := time.Duration(len(s.Gateway.Variants()))
	overhead := RunOverhead
	if s.Fleet != nil {
		overhead = FleetOverhead
	}
	if c := s.Load.Capacity; c != nil {
		return n * c.Budget // the search spends at most its budget
	}
	return n * time.Duration(len(s.Load.Rates)) * (s.Load.Warmup + s.Load.Duration + overhead)
}

// LimitNames are the names of limits an expectation may use, alone (the
// median) or with a percentile ("critical_path.p99").
var LimitNames = map[string]string{
	"critical_path": "the longest path of backend latencies through the call graph: what no gateway can beat",
	"levels":        "the slowest call of each dependency level, added up: what staged costs",
	"sum":           "the sum of the backend latencies: what sequential costs",
}

// LimitStats are the statistics of a limit an expectation may name.
var LimitStats = []string{"p50", "p90", "p99", "p999", "mean"}

// CallsPerSecondPrefix starts the metric calls_per_s_SERVICE: the requests
// one backend served per second, over a run or one of its phases.
const CallsPerSecondPrefix = "calls_per_s_"

// IsCallsMetric reports whether m is calls_per_s_SERVICE for a known
// service.
func IsCallsMetric(m string) bool {
	svc, ok := strings.CutPrefix(m, CallsPerSecondPrefix)
	return ok && slices.Contains(model.Services, svc)
}

// IsStatusMetric reports whether m is "code_NNN", the fraction of responses
// with status NNN (code_0 counts transport errors and timeouts).
func IsStatusMetric(m string) bool {
	rest, ok := strings.CutPrefix(m, "code_")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(rest)
	return err == nil && n >= 0 && n < 600 && strconv.Itoa(n) == rest
}

// RunName is the name of the run of a variant label at a rate, as the
// results name its files: "concurrent-500".
func RunName(label string, rate float64) string { return label + "-" + load.FormatRate(rate) }
