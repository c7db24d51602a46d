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
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// The block that puts, in every scenario's report, the gateway's CPU per
// results page beside the floor's: the gateway as the scenario runs it
// (concurrent mode, its settings) and the floor, on the scenario's own
// backends, FloorRounds interleaved rounds of FloorRound at FloorRate
// after the scenario's steps. At 200 req/s a round of 750 ms is 150
// pages, about 0.1 s of the gateway's CPU, which Proc.RunTime reads to
// the microsecond; the block adds about 7 s to a scenario.
const (
	FloorRate   = 200.0
	FloorRound  = 750 * time.Millisecond
	FloorWarmup = 500 * time.Millisecond
	FloorRounds = 3
)

// FloorTarget is what the floor block requests: the results page of
// experiments 1 to 1000, whatever the scenario's own targets.
var FloorTarget = load.Target{Name: "results page", Method: "GET", Path: scenario.FloorPath, IDs: load.IDRange{Min: 1, Max: 1000}, Weight: 1}

// interleave returns the order in which the rounds of n configurations
// run: 0, 1, ..., n-1, then again, rounds times. Each configuration's
// k-th round thus runs beside the others' k-th, so that a drift of the
// machine touches every configuration alike.
func interleave(n, rounds int) []int {
	out := make([]int, 0, n*rounds)
	for range rounds {
		for i := range n {
			out = append(out, i)
		}
	}
	return out
}

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

// measureCost starts every configuration of c once, warms each up, then
// runs c.Rounds interleaved rounds of c.Duration at c.Rate on targets,
// reading each process's CPU time and allocations around its attack. A
// configuration that does not start is recorded in its row, and the
// others still run; only ctx ending stops the measurement.
func (r *runner) measureCost(ctx context.Context, c *scenario.Cost, targets []scenario.Target) (*result.Cost, error) {
	out := &result.Cost{Rate: c.Rate, Duration: c.Duration, Rounds: c.Rounds, Baseline: c.Baseline, Notes: c.Notes, LoadAverage: loadAverage()}
	if err := r.restoreModels(ctx); err != nil {
		return out, err
	}
	procs := make([]*costProc, len(c.Configs))
	defer func() {
		for i, p := range procs {
			if p != nil {
				if err := p.stop(); err != nil {
					slog.Warn("stop", "config", c.Configs[i].Name, "err", err)
				}
			}
		}
	}()
	for i, cfg := range c.Configs {
		out.Rows = append(out.Rows, result.CostRow{Name: cfg.Name, Feature: cfg.Feature, Floor: cfg.Floor,
			Args: cfg.Args, AcceptEncoding: cfg.AcceptEncoding})
		p, err := r.startCostProc(ctx, cfg)
		if err == nil {
			procs[i] = p
			err = r.warmCost(ctx, p, cfg, c, targets)
		}
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.Rows[i].Error = err.Error()
			r.p.line(fmt.Sprintf("  %s: %v", cfg.Name, err))
		}
	}
	for n, i := range interleave(len(c.Configs), c.Rounds) {
		p, cfg := procs[i], c.Configs[i]
		if p == nil || out.Rows[i].Error != "" {
			continue
		}
		round, err := r.costRound(ctx, p, cfg, c, targets, n)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.Rows[i].Error = err.Error()
			continue
		}
		out.Rows[i].Rounds = append(out.Rows[i].Rounds, round)
		counts := ""
		if !round.Counts() {
			counts = fmt.Sprintf(" (%s): does not count", load.FormatCounts(round.Codes))
		}
		r.p.line(fmt.Sprintf("%s  cost round %d/%d  %-12s %6.3f ms CPU/request  %s allocs/request  success %.1f%%%s",
			r.s.Name, n/len(c.Configs)+1, c.Rounds, cfg.Name, result.Millis(round.CPUPerRequest()),
			formatAllocs(round.AllocsPerRequest()), 100*round.Success, counts))
	}
	return out, nil
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
		proc, err := launch.StartFloorOn(ctx, r.opts.Floor, r.mocks.proc, r.split.Gateway, logs)
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

// warmCost warms one configuration up, unmeasured.
func (r *runner) warmCost(ctx context.Context, p *costProc, cfg scenario.CostConfig, c *scenario.Cost, targets []scenario.Target) error {
	if c.Warmup <= 0 {
		return nil
	}
	if _, err := load.Run(ctx, costAttack(p, cfg, c, targets, "cost-"+cfg.Name+"-warmup", c.Warmup, 1)); err != nil {
		return fmt.Errorf("warm up %s: %w", cfg.Name, err)
	}
	return nil
}

// costRound runs the n-th round of the interleaved order on one
// configuration: allocations and CPU time read before and after the
// attack, the CPU reads inside the allocation reads, so that reading the
// allocations costs no measured CPU.
func (r *runner) costRound(ctx context.Context, p *costProc, cfg scenario.CostConfig, c *scenario.Cost, targets []scenario.Target, n int) (result.CostRound, error) {
	round := result.CostRound{Allocs: -1}
	a0, errA0 := p.allocs(ctx)
	cpu0, err := p.proc.RunTime()
	if err != nil {
		return round, err
	}
	rep, err := load.Run(ctx, costAttack(p, cfg, c, targets, fmt.Sprintf("cost-%s-%d", cfg.Name, n), c.Duration, uint64(n)+2))
	if err != nil {
		return round, fmt.Errorf("attack %s: %w", cfg.Name, err)
	}
	cpu1, err := p.proc.RunTime()
	if err != nil {
		return round, err
	}
	a1, errA1 := p.allocs(ctx)
	round.Requests, round.Success, round.Codes, round.CPU = rep.Requests, rep.Success, rep.Codes, cpu1-cpu0
	if errA0 == nil && errA1 == nil && p.readCost >= 0 {
		round.Allocs = max(0, a1-a0-p.readCost)
	}
	return round, nil
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
// floor (FloorRounds interleaved rounds at FloorRate on FloorTarget) into
// the result's Floor.
func (r *runner) floorBlock(ctx context.Context) error {
	r.p.line(fmt.Sprintf("%s  CPU floor: the gateway and a bare fan-out, %d interleaved rounds of %s at %s req/s",
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

// costVariant is the gateway of a cost configuration: the concurrent mode
// (the floor's graph) with the configuration's flags.
func costVariant(c scenario.CostConfig) scenario.Variant {
	return scenario.Variant{Label: c.Name, Mode: "concurrent", Args: c.Args}
}
