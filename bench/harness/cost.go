package harness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// The block that puts, in every scenario's report, the gateway's CPU per
// results page beside the floor's: the gateway as the scenario runs it
// (concurrent mode, its settings) and the floor, on the scenario's own
// backends, FloorRounds rounds of FloorRound at FloorRate, side by side
// (measureCost), after the scenario's steps. At 200 req/s a round of
// 750 ms is 150 pages, about 0.1 s of the gateway's CPU, which
// Proc.RunTime reads to the microsecond; the block adds about 3 s to a
// scenario.
const (
	FloorRate   = 200.0
	FloorRound  = 750 * time.Millisecond
	FloorWarmup = 500 * time.Millisecond
	FloorRounds = 3
)

// FloorTarget is what the floor block requests: the results page of
// experiments 1 to 1000, whatever the scenario's own targets.
var FloorTarget = load.Target{Name: "results page", Method: "GET", Path: scenario.FloorPath, IDs: load.IDRange{Min: 1, Max: 1000}, Weight: 1}

// costProc is one running configuration of a cost measurement.
type costProc struct {
	proc *launch.Proc
	base string // the URL of its public port
	// allocs reads the heap objects it has allocated so far.
	allocs func(ctx context.Context) (float64, error)
	// readCost is what one read of allocs allocates in the process
	// itself (the /metrics page the gateway renders), subtracted from
	// each round's count; -1 when allocs cannot be read.
	readCost float64
	// closeLog closes its log once it has stopped.
	closeLog func()
}

// stop stops the process and closes its log.
func (p *costProc) stop() error {
	defer p.closeLog()
	return p.proc.Stop(launch.DefaultGrace)
}

// measureCost measures every configuration of c in turn, each beside the
// floor (its row in c, if it has one): the configuration's process is
// started, warmed up for c.Warmup, then measured in c.Rounds rounds of
// c.Duration at c.Rate on targets, while one floor process, started once,
// serves the same requests at the same rate beside it; then it is
// stopped, so that only the configuration measured and the floor run on
// the gateway's CPU. A configuration that fails is recorded in its row,
// and the others still run; only ctx ending stops the measurement.
func (r *runner) measureCost(ctx context.Context, c *scenario.Cost, targets []scenario.Target) (*result.Cost, error) {
	out := &result.Cost{Rate: c.Rate, Duration: c.Duration, Rounds: c.Rounds, Baseline: c.Baseline, Notes: c.Notes, LoadAverage: loadAverage()}
	if err := r.restoreModels(ctx); err != nil {
		return out, err
	}
	// The first floor is the one beside every configuration; a further
	// one is a configuration like a gateway's.
	fi := -1
	for i, cfg := range c.Configs {
		beside := cfg.Floor && fi < 0
		out.Rows = append(out.Rows, result.CostRow{Name: cfg.Name, Feature: cfg.Feature, Floor: beside,
			Args: costArgs(cfg), AcceptEncoding: cfg.AcceptEncoding})
		if beside {
			fi = i
		}
	}
	var floor *costProc
	if fi >= 0 {
		var err error
		if floor, err = r.startCostProc(ctx, c.Configs[fi]); err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.Rows[fi].Error = err.Error()
			r.p.line(fmt.Sprintf("  %s: %v", c.Configs[fi].Name, err))
		} else {
			defer stopCost(floor, c.Configs[fi])
		}
	}
	for i, cfg := range c.Configs {
		if i == fi {
			continue
		}
		side := costSide{}
		if floor != nil {
			side = costSide{p: floor, cfg: c.Configs[fi], row: &out.Rows[fi]}
		}
		if err := r.measureConfig(ctx, c, targets, cfg, &out.Rows[i], side); err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.Rows[i].Error = err.Error()
			r.p.line(fmt.Sprintf("  %s: %v", cfg.Name, err))
		}
	}
	return out, nil
}

// costSide is the floor that runs beside a configuration: its process,
// its configuration and its row, which collects its rounds (p nil: none).
type costSide struct {
	p   *costProc
	cfg scenario.CostConfig
	row *result.CostRow
}

// measureConfig starts cfg, warms it up and measures its rounds into
// row, the floor of side beside it, then stops it.
func (r *runner) measureConfig(ctx context.Context, c *scenario.Cost, targets []scenario.Target, cfg scenario.CostConfig, row *result.CostRow, side costSide) error {
	p, err := r.startCostProc(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopCost(p, cfg)
	if c.Warmup > 0 {
		if _, _, err := r.costAttacks(ctx, c, targets, cfg, p, side, "warmup", c.Warmup, 1); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	for k := range c.Rounds {
		round, beside, err := r.costRound(ctx, c, targets, cfg, p, side, k)
		if err != nil {
			return err
		}
		row.Rounds = append(row.Rounds, round)
		line := fmt.Sprintf("%s  %-12s round %d/%d  %6.3f ms CPU/request", r.s.Name, cfg.Name, k+1, c.Rounds, result.Millis(round.CPUPerRequest()))
		if beside != nil {
			side.row.Rounds = append(side.row.Rounds, *beside)
			line += fmt.Sprintf(" (floor beside it %.3f ms: %s)", result.Millis(beside.CPUPerRequest()), ratioOf(round, *beside))
		}
		line += fmt.Sprintf("  %s allocs/request  success %.1f%%", formatAllocs(round.AllocsPerRequest()), 100*round.Success)
		if !round.Counts() {
			line += fmt.Sprintf(" (%s): does not count", load.FormatCounts(round.Codes))
		}
		r.p.line(line)
	}
	return nil
}

// ratioOf formats a round's CPU per request over the floor's beside it.
func ratioOf(round, floor result.CostRound) string {
	v, ok := round.Over(floor)
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%.2f×", v)
}

// stopCost stops a configuration's process; a failure is logged.
func stopCost(p *costProc, cfg scenario.CostConfig) {
	if err := p.stop(); err != nil {
		slog.Warn("stop", "config", cfg.Name, "err", err)
	}
}

// formatAllocs formats allocations per request, "?" when unknown.
func formatAllocs(a float64) string {
	if a < 0 {
		return "?"
	}
	return strconv.FormatFloat(a, 'f', 1, 64)
}

// startCostProc starts one configuration: the floor, or a gateway in
// concurrent mode with the scenario's settings and cfg's flags, and learns
// how to read its allocations and what one read costs.
func (r *runner) startCostProc(ctx context.Context, cfg scenario.CostConfig) (*costProc, error) {
	logs, closeLog := r.logs("cost-" + cfg.Name)
	p := costProc{closeLog: closeLog}
	if cfg.Floor {
		proc, err := launch.StartFloorOn(ctx, r.opts.Floor, r.mocks.proc, r.split.Gateway, logs, costArgs(cfg)...)
		if err != nil {
			closeLog()
			return nil, err
		}
		p.proc, p.base = proc, "http://"+proc.Addr("floor")
		url := p.base + launch.FloorMallocsPath
		p.allocs = func(ctx context.Context) (float64, error) { return readNumber(ctx, url) }
	} else {
		proc, err := startGateway(ctx, r.opts.Bins.Gateway, r.s, costVariant(cfg), r.mocks, r.split.Gateway, logs)
		if err != nil {
			closeLog()
			return nil, err
		}
		p.proc, p.base = proc, "http://"+proc.Addr("gateway")
		url := "http://" + proc.Addr("admin") + "/metrics"
		p.allocs = func(ctx context.Context) (float64, error) { return gatewayMallocs(ctx, url) }
	}
	// Two reads in a row: what lies between them is one read's own
	// allocations (and whatever the process did meanwhile, which is
	// little when it serves nothing).
	p.readCost = -1
	if a, err := p.allocs(ctx); err == nil {
		if b, err := p.allocs(ctx); err == nil && b >= a {
			p.readCost = b - a
		}
	}
	return &p, nil
}

// costAttack is the attack of one configuration.
func costAttack(p *costProc, cfg scenario.CostConfig, c *scenario.Cost, targets []scenario.Target, name string, d time.Duration, seed uint64) load.Attack {
	return load.Attack{
		Name: name, BaseURL: p.base, Targets: targets, Rate: c.Rate, Duration: d,
		Timeout: scenario.DefaultTimeout, Seed: seed, Authorization: launch.Authorization,
		AcceptEncoding: cfg.AcceptEncoding,
	}
}

// costAttacks runs the attack of cfg, and the floor's of side beside it
// with the same requests, at once, for d, and returns their reports
// (the floor's nil without a floor).
func (r *runner) costAttacks(ctx context.Context, c *scenario.Cost, targets []scenario.Target, cfg scenario.CostConfig, p *costProc, side costSide,
	label string, d time.Duration, seed uint64) (rep, beside *load.Report, err error) {
	var sideErr error
	var wg sync.WaitGroup
	if side.p != nil {
		wg.Go(func() {
			beside, sideErr = load.Run(ctx, costAttack(side.p, side.cfg, c, targets, fmt.Sprintf("cost-%s-%s-floor", cfg.Name, label), d, seed))
		})
	}
	rep, err = load.Run(ctx, costAttack(p, cfg, c, targets, fmt.Sprintf("cost-%s-%s", cfg.Name, label), d, seed))
	wg.Wait()
	if err != nil {
		return nil, nil, fmt.Errorf("attack %s: %w", cfg.Name, err)
	}
	if sideErr != nil {
		return nil, nil, fmt.Errorf("attack %s beside %s: %w", side.cfg.Name, cfg.Name, sideErr)
	}
	return rep, beside, nil
}

// costRound runs round k of cfg, and of the floor of side beside it:
// each process's allocations and CPU time are read before and after the
// attacks (the CPU reads inside the allocation reads, so that reading the
// allocations costs no measured CPU). beside is the floor's round, nil
// without a floor.
func (r *runner) costRound(ctx context.Context, c *scenario.Cost, targets []scenario.Target, cfg scenario.CostConfig, p *costProc, side costSide, k int) (round result.CostRound, beside *result.CostRound, err error) {
	procs := []*costProc{p}
	if side.p != nil {
		procs = append(procs, side.p)
	}
	rounds := make([]result.CostRound, len(procs))
	a0 := make([]float64, len(procs))
	errA0 := make([]error, len(procs))
	cpu0 := make([]time.Duration, len(procs))
	for i, q := range procs {
		a0[i], errA0[i] = q.allocs(ctx)
	}
	for i, q := range procs {
		if cpu0[i], err = q.proc.RunTime(); err != nil {
			return round, nil, err
		}
	}
	rep, sideRep, err := r.costAttacks(ctx, c, targets, cfg, p, side, strconv.Itoa(k+1), c.Duration, uint64(k)+2)
	if err != nil {
		return round, nil, err
	}
	reps := []*load.Report{rep, sideRep}
	for i, q := range procs {
		cpu1, err := q.proc.RunTime()
		if err != nil {
			return round, nil, err
		}
		rd := &rounds[i]
		rd.Requests, rd.Success, rd.Codes, rd.CPU, rd.Allocs = reps[i].Requests, reps[i].Success, reps[i].Codes, cpu1-cpu0[i], -1
	}
	for i, q := range procs {
		a1, errA1 := q.allocs(ctx)
		if errA0[i] == nil && errA1 == nil && q.readCost >= 0 {
			rounds[i].Allocs = max(0, a1-a0[i]-q.readCost)
		}
	}
	round = rounds[0]
	if side.p != nil {
		beside = &rounds[1]
		round.Floor = beside
	}
	return round, beside, nil
}

// gatewayMallocs reads go_memstats_mallocs_total from a gateway's /metrics.
func gatewayMallocs(ctx context.Context, url string) (float64, error) {
	series, err := launch.ReadMetrics(ctx, url, func(name string) bool { return name == "go_memstats_mallocs_total" })
	if err != nil {
		return 0, err
	}
	v, ok := series["go_memstats_mallocs_total"]
	if !ok {
		return 0, fmt.Errorf("%s: no go_memstats_mallocs_total", url)
	}
	return v, nil
}

// readNumber reads a page that holds one decimal number.
func readNumber(ctx context.Context, url string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", url, err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", url, err)
	}
	return v, nil
}

// floorBlock measures the gateway as the scenario runs it beside the
// floor (FloorRounds rounds side by side at FloorRate on FloorTarget)
// into the result's Floor.
func (r *runner) floorBlock(ctx context.Context) error {
	r.p.line(fmt.Sprintf("%s  CPU floor: the gateway beside a bare fan-out, %d rounds of %s at %s req/s each",
		r.s.Name, FloorRounds, FloorRound, load.FormatRate(FloorRate)))
	res, err := r.measureCost(ctx, floorBlock(), []scenario.Target{FloorTarget})
	r.res.Floor = res
	return err
}

// floorBlock is the measurement of the gateway beside the floor that every
// scenario but a cost one ends with.
func floorBlock() *scenario.Cost {
	return &scenario.Cost{Rate: FloorRate, Warmup: FloorWarmup, Duration: FloorRound, Rounds: FloorRounds,
		Configs: []scenario.CostConfig{
			{Name: "gateway", Feature: "the gateway as this scenario runs it, in concurrent mode"},
			{Name: "floor", Feature: "the CPU floor: a bare fan-out of the same calls", Floor: true},
		}}
}

// loadAverage returns the machine's 1-minute load average from
// /proc/loadavg, 0 where it cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return 0
	}
	return v
}

// costArgs are the flags a configuration's process starts with: a
// gateway's Args, a floor's -sockets.
func costArgs(c scenario.CostConfig) []string {
	if c.Floor && c.Sockets != "" {
		return []string{"-sockets", c.Sockets}
	}
	return c.Args
}

// costVariant is the gateway of a cost configuration: the concurrent mode
// (the floor's graph) with the configuration's flags.
func costVariant(c scenario.CostConfig) scenario.Variant {
	return scenario.Variant{Label: c.Name, Mode: "concurrent", Args: c.Args}
}
