package demo

import (
	"context"
	"fmt"
	"math"

	"fanout/bench/launch"
)

// PoolRun is the pool act: a small pool against concurrent at rates around
// the pool's capacity.
type PoolRun struct {
	Workers int
	// Capacity is workers / backend time per request, requests/s.
	Capacity float64
	Pool     LoadRun
	Conc     LoadRun
}

func (p *player) pool(ctx context.Context) error {
	o, s := p.o, p.s
	st, limits, err := p.startResultsStage(ctx, []launch.Gateway{{Mode: "pool", PoolSize: o.SmallPool}, {Mode: "concurrent"}})
	if err != nil {
		return err
	}
	defer st.stop()
	// Every call holds a worker for its whole backend time, so a request
	// costs the sum of its calls in worker time.
	capacity := float64(o.SmallPool) / limits.Sum.Seconds()
	s.act("The worker pool", fmt.Sprintf(
		"A pool of %d workers: each backend call holds a worker, and one results page\n"+
			"costs %s of worker time (the sum of its calls). So the pool serves at most\n"+
			"%d / %s ≈ %.0f requests/s; past that, requests queue for a worker.\n"+
			"Concurrent mode has no such cap.\n",
		o.SmallPool, ms(limits.Sum), o.SmallPool, ms(limits.Sum), capacity))
	if err := st.warm(ctx, resultsPath(1)); err != nil {
		return err
	}
	run := PoolRun{
		Workers:  o.SmallPool,
		Capacity: capacity,
		Pool:     LoadRun{Mode: "pool", Label: fmt.Sprintf("pool of %d", o.SmallPool)},
		Conc:     LoadRun{Mode: "concurrent", Label: "concurrent"},
	}
	var rates []int
	for _, f := range o.PoolLoads {
		rates = append(rates, max(int(math.Round(capacity*f)), 1))
	}
	for _, r := range []*LoadRun{&run.Pool, &run.Conc} {
		if _, err := attack(ctx, st, r.Mode, rates[0], warmUp(o.Step)); err != nil {
			return err
		}
	}
	full := 0.0
	barW := max(s.width*3/5, 10)
	rows := [][2]Step{}
	for _, rate := range rates {
		var pair [2]Step
		for i, r := range []*LoadRun{&run.Pool, &run.Conc} {
			s.progress("  %s at %d/s for %s …", r.Label, rate, ms(o.Step))
			stp, err := attack(ctx, st, r.Mode, rate, o.Step)
			s.done()
			if err != nil {
				return err
			}
			judge(&stp, o.SLO)
			r.Steps = append(r.Steps, stp)
			pair[i] = stp
			full = max(full, msf(stp.P99))
		}
		rows = append(rows, pair)
	}
	p.report.Pool = &run
	// The bars share one scale, known only once every rate has run.
	s.printf("\n  %s  %s\n", pad("", 8), s.pal.dim("p99 latency (p50 in brackets)"))
	for i, rate := range rates {
		note := fmt.Sprintf("%.1f× capacity", o.PoolLoads[i])
		if float64(rate) > capacity {
			note = s.pal.red(note + ": requests queue for a worker")
		} else {
			note = s.pal.dim(note)
		}
		s.printf("  %6d/s  %s\n", rate, note)
		for j, label := range []string{run.Pool.Label, "concurrent"} {
			stp := rows[i][j]
			colour := ansiCyan
			if j == 0 {
				colour = ansiYellow
			}
			s.printf("    %s %s %s %s\n", pad(label, 11),
				pad(s.pal.paint(colour, hbar(msf(stp.P99), full, barW)), barW), pad(ms(stp.P99), 8), s.pal.dim("("+ms(stp.P50)+")"))
		}
	}
	s.printf("  %s\n", poolVerdict(s.pal, run))
	if s.page != nil {
		xs := make([]float64, len(rates))
		for i, r := range rates {
			xs[i] = float64(r)
		}
		_, pool := loadSeries([]LoadRun{run.Pool})
		_, conc := loadSeries([]LoadRun{run.Conc})
		svg, err := linesSVG(fmt.Sprintf("p99 latency: pool of %d vs concurrent", o.SmallPool), "offered rate (requests/s)", "p99 (ms)",
			xs, append(pool, conc...), []limitLine{{x: capacity, label: fmt.Sprintf("pool capacity %.0f/s", capacity)}})
		if err != nil {
			return err
		}
		s.chart(svg, "Past the pool's capacity (workers / backend time per request) its latency climbs; concurrent stays flat.")
	}
	return nil
}

func poolVerdict(pal palette, run PoolRun) string {
	last := len(run.Pool.Steps) - 1
	if last < 0 {
		return ""
	}
	pp, cp := run.Pool.Steps[last].P99, run.Conc.Steps[last].P99
	if pp > cp {
		return pal.bold(fmt.Sprintf("→ at %d/s the pool's p99 is %.1f× concurrent's:", run.Pool.Steps[last].Rate, float64(pp)/float64(max(cp, 1)))) +
			" a worker pool is a throughput cap in disguise."
	}
	return pal.yellow("? the pool kept up this time: raise -pool-loads to push it past its capacity.")
}
