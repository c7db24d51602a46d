package demo

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
)

// attackTimeout bounds one request of an attack: past the gateway's own
// 2 s deadline, so that what is measured is the gateway's answer.
const attackTimeout = 3 * time.Second

// minSuccess is the share of successful requests below which a gateway
// counts as broken.
const minSuccess = 0.99

// Step is one offered rate held against one gateway.
type Step struct {
	Rate       int     // offered, requests/s
	Throughput float64 // complete answers delivered per second (see stepOf)
	Success    float64 // 0..1
	P50, P99   time.Duration
	Requests   uint64
	// Broken says the step missed the SLO, success or throughput; Why says how.
	Broken bool
	Why    string
	// Skipped: not run, because the gateway had already broken at a lower rate.
	Skipped bool
}

// LoadRun is one gateway mode at rising rates.
type LoadRun struct {
	Mode  string
	Label string // e.g. "pool of 16"
	Steps []Step
}

// BrokeAt is the index of the first broken step, -1 if none.
func (r LoadRun) BrokeAt() int {
	for i, s := range r.Steps {
		if s.Broken {
			return i
		}
	}
	return -1
}

// attack holds rate against the results endpoint of the gateway of mode for
// step, over the whole range of experiment ids, and summarises what came
// back. It measures as the bench does (open model, no cap on workers).
func attack(ctx context.Context, st *stage, mode string, rate int, step time.Duration) (Step, error) {
	rep, err := load.Run(ctx, load.Attack{
		Name:    fmt.Sprintf("%s-%d", mode, rate),
		BaseURL: st.url(mode, ""),
		Targets: []load.Target{{
			Name:   "results",
			Method: http.MethodGet,
			Path:   "/v2/experiments/{id}/results",
			IDs:    load.IDRange{Min: 1, Max: 1000},
			Weight: 1,
		}},
		Rate:     float64(rate),
		Duration: step,
		Timeout:  attackTimeout,
		Seed:     1,
		// The stage's gateways hold the bench token.
		Authorization: launch.Authorization,
	})
	if err != nil {
		return Step{}, err
	}
	return stepOf(rep, rate, step), nil
}

// stepOf summarises the report of one step of rate held for step. Its
// throughput means what the bench's does (load.Summary.Throughput): the
// complete answers the gateway delivered, at its own pace, never more than
// was offered. It is counted differently, for steps of a few requests: the
// complete answers per second of the measured window, from the first
// request sent to the last answer but never shorter than the step, and
// capped at the offered rate. The window runs to the last answer so that a
// queue that drains after the step (blocking, one call at a time) shows
// its real pace. The bench's window, as long as the step and shifted by
// the median latency, would count one answer more or less of a handful
// (two or three on the shrunk show's 400 ms steps); here, it is never
// shorter than the step, and capped, because on a short step the span to
// the last answer can be shorter than the step's length in requests
// (three answers within 420 ms are "7/s" at 6/s offered), and nothing
// serves more than was sent.
func stepOf(rep *load.Report, rate int, step time.Duration) Step {
	ok := math.Round(rep.Complete * float64(rep.Requests))
	thr := 0.0
	if window := max(rep.Span, step); window > 0 {
		thr = min(ok/window.Seconds(), float64(rate))
	}
	return Step{
		Rate:       rate,
		Throughput: thr,
		Success:    rep.Success,
		P50:        rep.Latency.P50,
		P99:        rep.Latency.P99,
		Requests:   uint64(rep.Requests),
	}
}

// loadRates derives the load act's rates from the backend time of one
// request (sum): factors times the blocking gateway's capacity, 1 / sum,
// since one lock lets one backend call run at a time. Rates are whole,
// at least 1, and rising.
func loadRates(sum time.Duration, factors []float64) []int {
	if sum <= 0 {
		return nil
	}
	capacity := 1 / sum.Seconds()
	var out []int
	for _, f := range factors {
		r := max(int(math.Round(f*capacity)), 1)
		if len(out) > 0 && r <= out[len(out)-1] {
			r = out[len(out)-1] + 1
		}
		out = append(out, r)
	}
	return out
}

// warmUp is the length of the unmeasured run before a gateway's first step.
func warmUp(step time.Duration) time.Duration { return min(step/4, 500*time.Millisecond) }

// judge marks a step broken when it misses the SLO, success or throughput.
func judge(s *Step, slo time.Duration) {
	var why []string
	if s.Success < minSuccess {
		why = append(why, fmt.Sprintf("%.0f%% success", math.Floor(s.Success*100)))
	}
	if s.P99 > slo {
		why = append(why, fmt.Sprintf("p99 %s > %s", ms(s.P99), ms(slo)))
	}
	if s.Throughput < 0.9*float64(s.Rate) {
		why = append(why, fmt.Sprintf("serves %.0f of %d/s", s.Throughput, s.Rate))
	}
	s.Broken = len(why) > 0
	s.Why = strings.Join(why, ", ")
}

func (p *player) load(ctx context.Context) error {
	o, s := p.o, p.s
	st, limits, err := p.startResultsStage(ctx, []launch.Gateway{
		{Mode: "pool", PoolSize: o.PoolSize}, {Mode: "concurrent"}, {Mode: "blocking"},
	})
	if err != nil {
		return err
	}
	defer st.stop()
	rates := o.Rates
	derived := ""
	if len(rates) == 0 {
		rates = loadRates(limits.Sum, o.LoadFactors)
		derived = fmt.Sprintf(" The rates are %s times what blocking can\n"+
			"serve, 1 / %s of backend time per request = %.0f/s.",
			joinFloats(o.LoadFactors), ms(limits.Sum), 1/limits.Sum.Seconds())
	}
	s.act("Under load", fmt.Sprintf(
		"GET %s at rising rates, %s each, against three\n"+
			"gateways: a pool of %d workers, concurrent, and blocking (one lock around every\n"+
			"backend call). A gateway breaks when p99 passes %s, success falls under %.0f%%\n"+
			"or it serves under 90%% of the rate.%s\n",
		resultsRoute, ms(o.Step), o.PoolSize, ms(o.SLO), minSuccess*100, derived))
	modes := []struct{ mode, label string }{
		{"pool", fmt.Sprintf("pool of %d", o.PoolSize)},
		{"concurrent", "concurrent"},
		{"blocking", "blocking"},
	}
	if err := st.warm(ctx, resultsPath(1)); err != nil {
		return err
	}
	maxRate := float64(rates[len(rates)-1])
	p99Full := 4 * o.SLO
	barW := max(s.width*2/5, 10)
	s.printf("\n  %s  %s  %s\n", pad("", 7), pad(s.pal.dim("throughput (req/s)"), barW+8), s.pal.dim(fmt.Sprintf("p99 latency (bar to %s)", ms(p99Full))))
	for _, m := range modes {
		run := LoadRun{Mode: m.mode, Label: m.label}
		s.printf("%s\n", s.pal.bold(m.label))
		// A short unmeasured run first, so that the client's connections
		// exist before the first step is timed.
		s.progress("  warming up …")
		_, err := attack(ctx, st, m.mode, rates[0], warmUp(o.Step))
		s.done()
		if err != nil {
			return err
		}
		broken := false
		var skipped []string
		for _, rate := range rates {
			if broken {
				run.Steps = append(run.Steps, Step{Rate: rate, Skipped: true})
				skipped = append(skipped, fmt.Sprint(rate))
				continue
			}
			s.progress("  %6d/s … offering %d requests/s for %s", rate, rate, ms(o.Step))
			stp, err := attack(ctx, st, m.mode, rate, o.Step)
			s.done()
			if err != nil {
				return err
			}
			judge(&stp, o.SLO)
			broken = stp.Broken
			run.Steps = append(run.Steps, stp)
			colour := ansiGreen
			mark := ""
			if stp.Broken {
				colour = ansiRed
				mark = s.pal.red("✗ breaks: " + stp.Why)
			}
			line := fmt.Sprintf("  %6d/s %s %s  %s %s  %s", rate,
				pad(s.pal.paint(colour, hbar(stp.Throughput, maxRate, barW)), barW), pad(fmt.Sprintf("%.0f/s", stp.Throughput), 6),
				pad(s.pal.paint(colour, hbar(float64(stp.P99), float64(p99Full), barW)), barW), pad(ms(stp.P99), 8), mark)
			s.printf("%s\n", strings.TrimRight(line, " "))
		}
		if len(skipped) > 0 {
			s.printf("  %8s %s\n", "", s.pal.dim(strings.Join(skipped, ", ")+"/s not run: already broken"))
		}
		p.report.Load = append(p.report.Load, run)
	}
	s.printf("  %s\n", loadVerdict(s.pal, p.report.Load))
	if s.page != nil {
		cats := make([]string, len(rates))
		for i, r := range rates {
			cats[i] = fmt.Sprint(r)
		}
		thr, p99 := loadSeries(p.report.Load)
		svg, err := barsSVG("throughput by offered rate (✗ = breaks)", "complete answers/s", cats, thr, nil)
		if err != nil {
			return err
		}
		s.chart(svg, "Throughput; a missing bar was not run because the gateway had already broken.")
		svg, err = barsSVG("p99 latency by offered rate (✗ = breaks)", "p99 (ms)", cats, p99, &limitLine{x: msf(o.SLO), label: "SLO " + ms(o.SLO)})
		if err != nil {
			return err
		}
		s.chart(svg, "p99 latency against the SLO.")
	}
	return nil
}

func loadSeries(runs []LoadRun) (thr, p99 []series) {
	for _, r := range runs {
		t := series{Name: r.Label, Broken: r.BrokeAt()}
		q := series{Name: r.Label, Broken: r.BrokeAt()}
		for _, s := range r.Steps {
			if s.Skipped {
				t.Values = append(t.Values, math.NaN())
				q.Values = append(q.Values, math.NaN())
				continue
			}
			t.Values = append(t.Values, s.Throughput)
			q.Values = append(q.Values, msf(s.P99))
		}
		thr, p99 = append(thr, t), append(p99, q)
	}
	return thr, p99
}

// loadVerdict sums up where each mode broke.
func loadVerdict(pal palette, runs []LoadRun) string {
	var parts []string
	for _, r := range runs {
		if i := r.BrokeAt(); i >= 0 {
			parts = append(parts, fmt.Sprintf("%s breaks at %d/s", r.Label, r.Steps[i].Rate))
		} else {
			parts = append(parts, fmt.Sprintf("%s holds every rate", r.Label))
		}
	}
	return pal.bold("→ "+strings.Join(parts, "; ")+".") + "\n  A pool caps throughput at workers / backend time; one lock caps it at 1 / backend time."
}
