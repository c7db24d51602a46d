// Package harness runs benchmark scenarios end to end: it builds the mock
// backends and the gateway, starts the mocks with the scenario's models and
// one gateway per mode and rate, warms up, attacks with vegeta in the open
// model, measures the gateway's CPU and memory and the backends' calls, puts
// every figure beside its limit, checks the expectations and writes a result
// directory:
//
//	DIR/scenario.yaml env.json summary.json report.md *.svg <mode>-<rate>.bin
//
// The gateway runs on CPUs of its own, the load generator and the mocks on
// the others (launch.Split). Against a gateway already running
// (Options.Target) it starts nothing. A step's rate can be split across
// generator processes, and shards sent from several hosts (RunShard)
// merged into one result directory (MergeShards).
//
// bench's main only parses flags and calls Run; everything else lives here.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/launch"
	"fanout/bench/limits"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// DefaultSuite names the scenarios `bench` runs without arguments, in order.
var DefaultSuite = []string{"talk", "tail", "pool-vs-async", "slow-backend", "hedging", "hot-keys", "dead-backend", "overload", "hostile", "capacity", "soak", "cost"}

// QuickSuite is the scenario of `bench -quick`: the whole pipeline in well
// under a minute.
var QuickSuite = []string{"quick"}

// Options configures Run. The zero value works from the module root.
type Options struct {
	// Out is the parent of the result directories (default "results").
	Out string
	// Progress receives progress lines (nil: none).
	Progress io.Writer
	// Logs receives the processes' standard error (nil: a log file per
	// process in the result directory's logs/).
	Logs io.Writer
	// Bins are the binaries to run; an empty path builds that program
	// (launch.Binaries.Build).
	Bins launch.Binaries
	// Floor is the CPU floor's binary (launch.FloorPackage), which every
	// scenario measures beside the gateway; empty builds it.
	Floor string
	// NoFloor leaves out the block that ends every scenario with the
	// gateway's CPU per request beside the floor's (bench -floor=false, and
	// tests of other parts of a run); the floor is then built only for a
	// cost scenario, whose rows include it.
	NoFloor bool
	// Now gives the time that names result directories (default time.Now).
	Now func() time.Time
	// Write renders the report of a finished scenario into its directory
	// (nil: only summary.json is written). The report package provides it;
	// passing it in keeps this package free of charts.
	Write func(dir string, s *result.Scenario) error
	// Seed seeds the mock backends' random draws and the limits'
	// simulation (0: a fresh seed per scenario, recorded in summary.json,
	// so that repeating a scenario draws independent latencies).
	Seed uint64
	// NoSplit, if set, says why every process runs on every CPU (bench
	// -split off); empty: the gateway gets CPUs of its own where the
	// machine has enough (launch.PlanSplit).
	NoSplit string
	// Target, if set, is the root URL of a gateway already running (a
	// fleet behind its load balancer, a staging host): the scenario's
	// load goes there, with Authorization, and the harness starts no
	// gateway and no mocks. The runs carry one variant (targetVariants),
	// and the gateway's CPU, memory and policies go unmeasured.
	Target        string
	Authorization string
	// MockAdmin maps backend services to the addresses (host:port) of
	// Fanout mocks behind Target, where their admin API answers: the
	// harness sets the scenario's models on them, plays its events and
	// counts their calls as with mocks it starts. Without every service's,
	// the limits are unknown and the report says so.
	MockAdmin map[string]string
	// Generator is the command, with its first arguments, that runs one
	// generator of a step whose rate load.generators splits (bench
	// attack; its flags are added). Empty: this executable's "attack".
	Generator []string
}

// Outcome is what Run returns per scenario.
type Outcome struct {
	Dir    string
	Result *result.Scenario
}

// Run runs the scenarios in order and returns their outcomes. It stops at the
// first scenario that cannot run at all (bad binaries, ctx done); a failed
// expectation is an outcome, not an error (see Failed).
func Run(ctx context.Context, scenarios []*scenario.Scenario, opts Options) ([]Outcome, error) {
	if opts.Out == "" {
		opts.Out = "results"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := newProgress(opts.Progress, scenarios)
	if opts.Target == "" && (opts.Bins.Gateway == "" || opts.Bins.Mocks == "") {
		p.line("building the gateway and the mock backends")
		var err error
		if opts.Bins, err = opts.Bins.Build(ctx); err != nil {
			return nil, err
		}
	}
	if opts.Floor == "" && opts.Target == "" && (!opts.NoFloor || hasCost(scenarios)) {
		var err error
		if opts.Floor, err = launch.Build(ctx, launch.FloorPackage); err != nil {
			return nil, err
		}
	}
	env := Environment(ctx)
	split, unpin := splitCPUs(opts)
	defer unpin()
	env.Split = &split
	stamp := opts.Now().UTC().Format("20060102T150405Z")
	var outs []Outcome
	for _, s := range scenarios {
		dir := filepath.Join(opts.Out, stamp+"-"+s.Name)
		res, err := runScenario(ctx, s, dir, env, opts, p)
		if res != nil {
			outs = append(outs, Outcome{Dir: dir, Result: res})
		}
		if err != nil {
			return outs, fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		p.done(s)
	}
	return outs, nil
}

// Failed counts the failed expectations of outcomes.
func Failed(outs []Outcome) int {
	n := 0
	for _, o := range outs {
		n += len(o.Result.Failed())
	}
	return n
}

// runner runs one scenario.
type runner struct {
	s     *scenario.Scenario
	dir   string
	opts  Options
	p     *progress
	mocks *mocks
	res   *result.Scenario
	logs  func(name string) (io.Writer, func())
	// split is how the CPUs are shared between the gateway and the load
	// side.
	split launch.Split
}

func runScenario(ctx context.Context, s *scenario.Scenario, dir string, env result.Env, opts Options, p *progress) (*result.Scenario, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create result directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), s.Source, 0o644); err != nil {
		return nil, fmt.Errorf("copy scenario: %w", err)
	}
	if err := writeEnv(dir, env); err != nil {
		return nil, err
	}
	start := time.Now()
	seed := scenarioSeed(opts.Seed)
	split := launch.Split{}
	if env.Split != nil {
		split = *env.Split
	}
	res := &result.Scenario{
		Name: s.Name, Description: s.Description, File: s.File, Started: start.UTC(), Env: env,
		Rates: s.Load.Rates, Phases: s.Phases(), Seed: seed,
	}
	for _, t := range s.Targets {
		res.Targets = append(res.Targets, t.Name)
	}
	variants := targetVariants(s, opts)
	for _, v := range variants {
		res.Variants = append(res.Variants, v.Label)
	}
	res.Target = opts.Target
	if s.Cost != nil {
		res.Variants = nil
		for _, c := range s.Cost.Configs {
			res.Variants = append(res.Variants, c.Name)
		}
	}
	for _, e := range s.Events {
		change := ""
		switch {
		case e.Service == "":
		case e.Restore:
			change = "restore"
		case e.Set.Latency != nil:
			change = "latency " + e.Set.Latency.String()
		default:
			change = "set"
		}
		res.Events = append(res.Events, result.Event{At: e.At, Phase: e.Name, Service: e.Service, Change: change, Rate: e.Rate, Fleet: e.Fleet})
	}
	r := &runner{s: s, dir: dir, opts: opts, p: p, res: res, split: split}
	r.logs = r.logWriter
	p.begin(s)

	m, closeLog, err := r.bringMocks(ctx, seed)
	if err != nil {
		return nil, err
	}
	r.mocks = m
	defer func() {
		if err := m.stop(); err != nil {
			slog.Warn("stop mock backends", "err", err)
		}
		closeLog()
	}()

	if s.Cost != nil {
		if res.Cost, err = r.measureCost(ctx, s.Cost, s.Targets); err != nil {
			if ctx.Err() != nil {
				return r.interrupted(start, ctx.Err())
			}
			res.Errors = append(res.Errors, fmt.Sprintf("cost: %v", err))
			err = nil
		}
	}
	for _, v := range r.variants() {
		if s.Load.Capacity != nil {
			err = r.searchCapacity(ctx, v)
		} else {
			for _, rate := range s.Load.Rates {
				if err = r.measure(ctx, v, rate, s.Load.Duration, false); err != nil {
					break
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return r.interrupted(start, ctx.Err())
			}
			// One variant failing to run (say, a gateway that would
			// not start) is recorded; the others still run.
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", v.Label, err))
			p.line(fmt.Sprintf("  %s: %v", v.Label, err))
			err = nil
		}
	}
	// The floor block starts a gateway and the floor of its own, beside
	// mocks of the harness's: not against a gateway running elsewhere,
	// nor beside a fleet, whose replicas restart during a step.
	if s.Cost == nil && opts.Target == "" && s.Fleet == nil && !opts.NoFloor {
		if err := r.floorBlock(ctx); err != nil {
			if ctx.Err() != nil {
				return r.interrupted(start, ctx.Err())
			}
			res.Errors = append(res.Errors, fmt.Sprintf("CPU floor: %v", err))
		}
	}
	res.Expectations = evaluate(s, res)
	if err := r.write(start); err != nil {
		return res, err
	}
	p.verdict(res)
	return res, nil
}

// variants returns the variants to run step by step: none in a cost
// scenario, whose configurations run in rounds beside the floor instead, and
// one against a running gateway (targetVariants).
func (r *runner) variants() []scenario.Variant {
	if r.s.Cost != nil {
		return nil
	}
	return targetVariants(r.s, r.opts)
}

// write writes summary.json and the report.
func (r *runner) write(start time.Time) error {
	r.res.Elapsed = time.Since(start)
	if err := result.Write(r.dir, r.res); err != nil {
		return err
	}
	if r.opts.Write != nil {
		if err := r.opts.Write(r.dir, r.res); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// interrupted keeps what a stopped scenario finished: the steps that
// completed (measure drops the one cut short), marked as interrupted in
// summary.json and the report, and says so in one line.
func (r *runner) interrupted(start time.Time, cause error) (*result.Scenario, error) {
	r.res.Interrupted = true
	r.res.Expectations = evaluate(r.s, r.res)
	if err := r.write(start); err != nil {
		r.p.line(fmt.Sprintf("INTERRUPTED: %s could not keep its finished steps: %v", r.dir, err))
		return r.res, errors.Join(cause, err)
	}
	steps := "steps"
	if len(r.res.Runs) == 1 {
		steps = "step"
	}
	r.p.line(fmt.Sprintf("INTERRUPTED: %s keeps %d finished %s in summary.json and report.md; the step cut short was dropped",
		r.dir, len(r.res.Runs), steps))
	return r.res, cause
}

// scenarioSeed returns the seed of one execution of a scenario: fixed if
// given, otherwise a fresh one, so that repeating a scenario draws other
// latencies and the repetitions are independent samples.
func scenarioSeed(fixed uint64) uint64 {
	seed := fixed
	for seed == 0 {
		seed = rand.Uint64()
	}
	return seed
}

// logWriter returns where a process's standard error goes and a func that
// closes it.
func (r *runner) logWriter(name string) (io.Writer, func()) {
	if r.opts.Logs != nil {
		return r.opts.Logs, func() {}
	}
	dir := filepath.Join(r.dir, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return io.Discard, func() {}
	}
	file := filepath.Join(dir, name+".log")
	f, err := os.Create(file)
	if err != nil {
		return io.Discard, func() {}
	}
	return f, func() {
		_ = f.Close()
		// Keep only logs with something in them.
		if st, err := os.Stat(file); err == nil && st.Size() == 0 {
			_ = os.Remove(file)
			_ = os.Remove(dir) // fails, harmlessly, unless empty
		}
	}
}

// computeLimits simulates the workload under the scenario's models, once
// per scenario, through the plans the gateway compiles from its embedded
// document: the binary the harness builds embeds the same one.
func (r *runner) computeLimits() {
	if r.res.Limits != nil || r.res.LimitsNote != "" {
		return
	}
	if unknown := r.unknownMocks(); len(unknown) > 0 {
		r.res.LimitsNote = fmt.Sprintf("No limits are known: bench ran against a gateway it did not start (%s), and the latencies of %s, whose mocks' admin addresses were not given (-mock-admin), are unknown.",
			r.opts.Target, strings.Join(unknown, ", "))
		return
	}
	ops, err := limits.Gateway()
	if err != nil {
		r.res.LimitsNote = fmt.Sprintf("no limits: %v", err)
		return
	}
	var work []limits.Weighted
	var left []string
	for _, t := range r.s.Targets {
		op, ok := limits.Match(ops, t.Method, t.Path)
		if !ok {
			left = append(left, t.Name)
			continue
		}
		work = append(work, limits.Weighted{Op: op, Weight: t.Weight})
		if len(r.s.Targets) > 1 {
			l, err := limits.Compute([]limits.Weighted{{Op: op, Weight: 1}}, r.s.Backends, dist.DefaultSamples, r.res.Seed)
			if err == nil {
				if r.res.TargetLimits == nil {
					r.res.TargetLimits = map[string]dist.Limits{}
				}
				r.res.TargetLimits[t.Name] = l
			}
		}
	}
	if len(work) == 0 {
		r.res.LimitsNote = "no limits: no target fans out"
		return
	}
	l, err := limits.Compute(work, r.s.Backends, dist.DefaultSamples, r.res.Seed)
	if err != nil {
		r.res.LimitsNote = fmt.Sprintf("no limits: %v", err)
		return
	}
	r.res.Limits = &l
	if len(left) > 0 {
		r.res.LimitsNote = "limits leave out targets that match no fan-out operation: " + strings.Join(left, ", ")
	}
}

// measure runs one variant at one rate in a fresh gateway: warm-up, then the
// measured attack with events, CPU, memory and backend calls. Each step is a
// method of its own, in the order they run.
func (r *runner) measure(ctx context.Context, v scenario.Variant, rate float64, d time.Duration, probe bool) error {
	s := r.s
	if s.Fleet != nil {
		return r.measureFleet(ctx, v, rate, d)
	}
	run := result.Run{Variant: v.Label, Mode: v.Mode, PoolSize: v.PoolSize, Rate: rate, Probe: probe, Warmup: s.Load.Warmup}
	name := r.runName(v, rate, probe)
	r.p.run(v.Label, rate, s.Load.Warmup, d)

	if err := r.restoreModels(ctx); err != nil {
		return err
	}
	base := load.Attack{
		Name: name, BaseURL: r.opts.Target, Targets: s.Targets, Rate: rate,
		Timeout: s.Load.Timeout, Seed: s.Load.Seed, Bodies: s.Load.CompareBodies,
		Authorization: r.opts.Authorization, CPUs: loadCPUs(r.split),
	}
	// Against a running gateway there is no process to start, stop or
	// measure: gw stays nil.
	var gw *launch.Proc
	if r.opts.Target == "" {
		glog, closeLog := r.logs("gateway-" + name)
		defer closeLog()
		var err error
		gw, err = startGateway(ctx, r.opts.Bins.Gateway, s, v, r.mocks, r.split.Gateway, glog)
		if err != nil {
			return err
		}
		base.BaseURL, base.Authorization = "http://"+gw.Addr("gateway"), launch.Authorization
	}
	stopped := gw == nil
	defer func() {
		if !stopped {
			_ = gw.Stop(launch.DefaultGrace)
		}
	}()
	r.computeLimits()
	if err := r.warmUp(ctx, base); err != nil {
		return err
	}
	cpu0, err := gatewayCPU(gw)
	if err != nil {
		return err
	}
	served0, err := r.mocks.served(ctx)
	if err != nil && r.mocks != nil {
		slog.Warn("read backend stats", "err", err)
	}
	meter := meterLoad(r.mocks)
	if err := r.attack(ctx, gw, base, d, &run); err != nil {
		return err
	}
	meter.stop(&run, loadCPUs(r.split))
	if gw != nil {
		cpu1, err := gw.CPUTime()
		if err != nil {
			return err
		}
		run.CPU = cpu1 - cpu0
		if run.Requests > 0 {
			run.CPUPerRequest = run.CPU / time.Duration(run.Requests)
		}
		if run.PeakRSS, err = gw.PeakRSS(); err != nil {
			return err
		}
	}
	if served0 != nil {
		r.countBackendCalls(ctx, served0, &run)
	}
	if !stopped {
		stopped = true
		if err := gw.Stop(launch.DefaultGrace); err != nil {
			slog.Warn("stop gateway", "run", name, "err", err)
		}
	}
	r.res.Runs = append(r.res.Runs, run)
	r.p.figures(run, r.res.Limits)
	return nil
}

// runName names a step's results file. A search may probe one rate twice
// (a short probe, a hold): the second gets a suffix, so both files stay.
func (r *runner) runName(v scenario.Variant, rate float64, probe bool) string {
	name := scenario.RunName(v.Label, rate)
	if _, err := os.Stat(filepath.Join(r.dir, name+".bin")); probe && err == nil {
		name += "-" + strconv.Itoa(len(r.res.Runs)+1)
	}
	return name
}

// restoreModels puts the scenario's own models back on every service that
// an event changes: events change the mocks during a step, and each step
// starts from the scenario as written.
func (r *runner) restoreModels(ctx context.Context) error {
	for _, e := range r.s.Events {
		if e.Service == "" {
			continue
		}
		if err := r.mocks.setModel(ctx, e.Service, r.s.Backends[e.Service]); err != nil {
			return err
		}
	}
	return nil
}

// warmUp offers the scenario's warm-up load, unmeasured, so that
// connections and caches exist before the measured attack.
func (r *runner) warmUp(ctx context.Context, base load.Attack) error {
	if r.s.Load.Warmup <= 0 {
		return nil
	}
	w := base
	w.Name, w.Duration, w.Seed = base.Name+"-warmup", r.s.Load.Warmup, r.s.Load.Seed+1
	w.Bodies = false
	if _, err := load.Run(ctx, w); err != nil {
		return fmt.Errorf("warm up %s: %w", base.Name, err)
	}
	return nil
}

// attack runs the measured attack of d on gw, with the scenario's events,
// into the step's results file, sampling the gateway meanwhile, and fills
// run's report, samples and growth. A step cut short by ctx leaves no
// results file: its figures would pass for a whole step.
func (r *runner) attack(ctx context.Context, gw *launch.Proc, base load.Attack, d time.Duration, run *result.Run) error {
	f, err := r.createResults(base.Name, run)
	if err != nil {
		return err
	}
	defer f.Close()
	a := base
	a.Duration, a.Out = d, f
	r.withEvents(ctx, &a)
	if n := r.s.Load.Generators; n > 1 {
		a.Generators = n
		a.Spawn = r.spawnGenerator(a)
	}
	var phases *phaseCalls
	if a.At != nil && r.mocks != nil {
		phases = newPhaseCalls(ctx, r.mocks, a.PhaseNames)
		at := a.At
		a.At = func(i int) { phases.next(ctx); at(i) }
	}
	// The gateway serves /metrics on its admin listener only; a gateway
	// the harness did not start is not watched.
	watch := gw != nil
	var smp *sampler
	var pol0 map[string]float64
	if watch {
		smp = newSampler(gw, gw.Addr("admin"))
		pol0 = policyCounters(ctx, smp.metrics)
		smp.begin(ctx)
	}
	stopHostile := r.startHostile(ctx, base, d)
	rep, err := load.Run(ctx, a)
	run.Hostile = stopHostile()
	if watch {
		run.Samples = smp.end(ctx)
		run.Policies = policyDelta(pol0, policyCounters(ctx, smp.metrics))
		if res := resilienceFigures(ctx, smp.metrics); res != nil {
			if run.Policies == nil {
				run.Policies = map[string]float64{}
			}
			maps.Copy(run.Policies, res)
		}
	}
	if phases != nil {
		phases.next(ctx)
		run.PhaseBackendCalls = phases.result()
	}
	if err := finishResults(ctx, f, base.Name, rep, err, run); err != nil {
		return err
	}
	comparePages(run, r.res.Runs)
	growth(run)
	return nil
}

// createResults creates the results file of the step named name in the
// run's directory, and records its name in run.File.
func (r *runner) createResults(name string, run *result.Run) (*os.File, error) {
	run.File = name + ".bin"
	f, err := os.Create(filepath.Join(r.dir, run.File))
	if err != nil {
		return nil, fmt.Errorf("create results file: %w", err)
	}
	return f, nil
}

// finishResults ends the attack named name whose results went to f:
// on an error it returns it, and removes f if the run was interrupted
// (an interrupted step keeps no results); otherwise it closes f and
// records the report rep in run.
func finishResults(ctx context.Context, f *os.File, name string, rep *load.Report, err error, run *result.Run) error {
	if err != nil {
		if ctx.Err() != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
		return fmt.Errorf("attack %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write results file: %w", err)
	}
	run.Report = *rep
	run.GeneratorLimited = rep.Limited(run.OfferedRate())
	return nil
}

// withEvents makes a play the scenario's events: each phase starts at its
// event's offset and changes (or restores) one service's model, the offered
// rate, or both.
func (r *runner) withEvents(ctx context.Context, a *load.Attack) {
	s := r.s
	if len(s.Events) == 0 {
		return
	}
	withPhases(s, a)
	a.At = func(i int) {
		e := s.Events[i]
		if e.Service == "" {
			return // a change of rate alone: the pacer makes it
		}
		m := e.Set
		if e.Restore {
			m = s.Backends[e.Service]
		}
		if err := r.mocks.setModel(ctx, e.Service, m); err != nil {
			slog.Warn("event", "phase", e.Name, "err", err)
		}
	}
}

// withPhases gives a the phases of the scenario's events and the rates
// they set, without changing any backend.
func withPhases(s *scenario.Scenario, a *load.Attack) {
	if len(s.Events) == 0 {
		return
	}
	a.PhaseNames = s.Phases()
	for _, e := range s.Events {
		a.Phases = append(a.Phases, e.At)
	}
	// The first phase's rate is the run's own; the pacer changes it at
	// the offsets of the events that set one.
	a.PhaseRates = s.PhaseRates(a.Rate)[1:]
}

// HostileAddr is the client address of a scenario's hostile tenant on
// Linux, where all of 127.0.0.0/8 reaches the loopback gateway: a tenant
// of its own address, as another customer would be, so that what the
// gateway bounds per address (connections, body bytes) tells the two
// apart. Elsewhere the tenant shares the measured load's address.
const HostileAddr = "127.0.0.2"

// startHostile starts the scenario's hostile tenant, if it has one, on the
// gateway of base: from the start of its phase into a measured attack of
// d to the end, with its own token (launch.HostileAuthorization), its slow
// uploads and its requests. The func it returns stops the tenant and
// reports what it did (nil without a tenant).
func (r *runner) startHostile(ctx context.Context, base load.Attack, d time.Duration) func() *result.Hostile {
	h := r.s.Hostile
	if h == nil {
		return func() *result.Hostile { return nil }
	}
	local := ""
	if runtime.GOOS == "linux" {
		local = HostileAddr
	}
	ctx, cancel := context.WithCancel(ctx)
	out := &result.Hostile{From: h.From}
	from := r.s.PhaseStart(h.From)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTimer(from)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		var tenant sync.WaitGroup
		if u := h.Uploads; u != nil {
			tenant.Go(func() {
				rep, err := load.Trickle{
					URL: base.BaseURL + u.Path, Body: []byte(u.Body), Clients: u.Clients,
					BytesPerSecond: u.BytesPerSecond, Authorization: launch.HostileAuthorization, LocalAddr: local,
				}.Run(ctx)
				if err != nil {
					slog.Warn("hostile uploads", "err", err)
					return
				}
				out.Uploads = &rep
			})
		}
		if h.Rate > 0 {
			tenant.Go(func() {
				rep, err := load.Run(ctx, load.Attack{
					Name: base.Name + "-hostile", BaseURL: base.BaseURL, Targets: h.Targets, Rate: h.Rate,
					Duration: d - from, Timeout: base.Timeout, Seed: base.Seed + 2,
					Authorization: launch.HostileAuthorization, LocalAddr: local,
				})
				if rep != nil {
					out.Requests = &rep.Summary
				}
				if err != nil && ctx.Err() == nil {
					slog.Warn("hostile requests", "err", err)
				}
			})
		}
		tenant.Wait()
	})
	return func() *result.Hostile {
		cancel()
		wg.Wait()
		return out
	}
}

// growth compares the first and last samples of run: resident memory, and
// goroutines less those that serve connections (one per open connection is
// load, not a leak).
func growth(run *result.Run) {
	n := len(run.Samples)
	if n < 2 {
		return
	}
	first, last := run.Samples[0], run.Samples[n-1]
	run.RSSGrowth = last.RSS - first.RSS
	if first.Goroutines >= 0 && last.Goroutines >= 0 {
		run.GoroutineGrowth = last.Goroutines - first.Goroutines
		if first.Connections >= 0 && last.Connections >= 0 {
			run.GoroutineGrowth -= last.Connections - first.Connections
		}
	}
}

// countBackendCalls records how many requests each backend served since
// served0, and how many that makes per public request. A failed read of the
// stats leaves both out.
func (r *runner) countBackendCalls(ctx context.Context, served0 map[string]int64, run *result.Run) {
	served1, err := r.mocks.served(ctx)
	if err != nil {
		slog.Warn("read backend stats", "err", err)
		return
	}
	run.BackendCalls = map[string]int64{}
	var total int64
	for svc, n := range served1 {
		run.BackendCalls[svc] = n - served0[svc]
		total += n - served0[svc]
	}
	if run.Requests > 0 {
		run.CallsPerRequest = float64(total) / float64(run.Requests)
	}
}

// searchCapacity runs the capacity search of one variant; every probe is a
// measured run of its own.
func (r *runner) searchCapacity(ctx context.Context, v scenario.Variant) error {
	c := r.s.Load.Capacity
	search := capacity.Search{
		SLO:   capacity.SLO{P99: c.P99, Success: c.Success},
		Start: c.Start, Max: c.Max, Precision: c.Precision,
		Step: c.Step, Hold: c.Hold, MaxProbe: c.MaxProbe, MinSamples: load.MinSamples,
		Budget: c.Budget, Overhead: r.s.Load.Warmup + scenario.RunOverhead,
		Round: roundRate,
		Probe: func(ctx context.Context, rate float64, d time.Duration) (capacity.Outcome, error) {
			if err := r.measure(ctx, v, rate, d, true); err != nil {
				return capacity.Outcome{}, err
			}
			run := r.res.Runs[len(r.res.Runs)-1]
			return capacity.Outcome{P99: run.Latency.P99, Success: run.Complete, Requests: run.Requests,
				Limited: run.GeneratorLimited, Saturated: run.LoadSaturated, Slope: run.LatencySlope}, nil
		},
		OnPoint: func(pt capacity.Point) {
			r.res.Runs[len(r.res.Runs)-1].Hold = pt.Hold
			r.p.point(pt)
		},
	}
	res, err := search.Run(ctx)
	out := result.Capacity{Variant: v.Label, Mode: v.Mode, PoolSize: v.PoolSize, Result: res}
	out.SLO.P99, out.SLO.Success = c.P99, c.Success
	r.res.Capacity = append(r.res.Capacity, out)
	r.p.capacity(out)
	return err
}

// roundRate keeps probe rates readable: whole requests per second.
func roundRate(r float64) float64 {
	if r < 10 {
		return float64(int(r*10+0.5)) / 10
	}
	return float64(int(r + 0.5))
}

// hasCost says whether one of scenarios is a cost scenario.
func hasCost(scenarios []*scenario.Scenario) bool {
	for _, s := range scenarios {
		if s.Cost != nil {
			return true
		}
	}
	return false
}
