package demo

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"fanout/bench/dist"
	"fanout/bench/launch"
	"fanout/bench/limits"
	"fanout/bench/servertiming"
	"fanout/mockbackends/model"
)

// ResultsRoute is the aggregate operation whose waterfall the results act
// draws and against which the load acts (and the live stage) run.
const ResultsRoute = resultsRoute

// The aggregate operation whose waterfall the results act draws.
const (
	resultsRoute = "/v2/experiments/{experiment_id}/results"
	resultsOp    = "getExperimentResults"
)

// ResultsPath is the path of ResultsRoute for experiment id.
func ResultsPath(id int) string { return resultsPath(id) }

func resultsPath(id int) string { return fmt.Sprintf("/v2/experiments/%d/results", id) }

// resultsModes are the modes the waterfall compares, slowest first.
var resultsModes = []string{"sequential", "staged", "concurrent"}

// ResultsRun is one results-page request in one mode, as its Server-Timing
// header tells it.
type ResultsRun struct {
	Mode   string
	Timing servertiming.Timing
	// Header is the raw Server-Timing header the waterfall was drawn from.
	Header string
	// Total is the gateway's reported total (or, without one, what the
	// client measured).
	Total time.Duration
	// Fastest is the smallest total of the requests the run was chosen
	// from: a busy machine only ever adds to a total, so the fastest is
	// the steadiest figure to compare modes by.
	Fastest time.Duration
}

// Limits are what the backends' latencies allow for one request of a plan.
type Limits struct {
	// CriticalPath is the longest dependency chain: what no gateway can beat.
	CriticalPath time.Duration
	// Levels is the sum of each dependency level's slowest call: staged mode.
	Levels time.Duration
	// Sum is the sum of all calls: sequential mode.
	Sum time.Duration
}

func (p *player) results(ctx context.Context) error {
	s := p.s
	s.act("Getting results", fmt.Sprintf(
		"GET %s needs four backend calls: the experiment,\n"+
			"then its layer and its project's settings (both need fields of the experiment),\n"+
			"and its results (which need only the id). The gateway's Server-Timing header\n"+
			"tells when each call ran.\n", resultsRoute))
	st, lim, err := p.startResultsStage(ctx, []launch.Gateway{{Mode: "sequential"}, {Mode: "staged"}, {Mode: "concurrent"}})
	if err != nil {
		return err
	}
	defer st.stop()
	p.report.ResultsLimits = lim
	if err := st.warm(ctx, resultsPath(1)); err != nil {
		return err
	}

	runs := make([]ResultsRun, 0, len(resultsModes))
	span := lim.Sum
	for _, mode := range resultsModes {
		run, err := medianRun(ctx, st, mode, 3)
		if err != nil {
			return err
		}
		runs = append(runs, run)
		span = max(span, run.Total)
		span = max(span, run.Timing.End())
	}
	p.report.Results = runs
	span = span * 21 / 20

	for _, run := range runs {
		s.printf("\n%s  total %s\n", s.pal.bold(pad(run.Mode, 11)), s.pal.bold(ms(run.Total)))
		lanes := spanLanes(run.Timing)
		timeline(s, s.pal, "  ", lanes, span, s.width)
		if run.Mode == resultsModes[len(resultsModes)-1] {
			s.printf("  %s\n", s.pal.dim(wrap("drawn from Server-Timing: "+run.Header, s.width+14, "  ")))
		}
		if s.page != nil {
			svg, err := ganttSVG(fmt.Sprintf("%s: total %s", run.Mode, ms(run.Total)), lanes, span, []limitLine{
				{x: msf(lim.CriticalPath), label: "critical path " + ms(lim.CriticalPath)},
				{x: msf(lim.Sum), label: "sum " + ms(lim.Sum)},
			})
			if err != nil {
				return err
			}
			s.chart(svg, run.Mode+" mode: one request's backend calls from Server-Timing")
		}
	}

	s.printf("\n%s\n", s.pal.bold("each total beside its limits"))
	limitOf := map[string]string{
		"sequential": fmt.Sprintf("sum %s", ms(lim.Sum)),
		"staged":     fmt.Sprintf("level sum %s", ms(lim.Levels)),
		"concurrent": fmt.Sprintf("critical path %s", ms(lim.CriticalPath)),
	}
	barW := s.width * 3 / 4
	for _, run := range runs {
		s.printf("  %s %s %s  %s\n", pad(run.Mode, 11),
			pad(s.pal.cyan(hbar(msf(run.Total), msf(span), barW)), barW), pad(ms(run.Total), 8),
			s.pal.dim(fmt.Sprintf("%.2f× critical path · its limit: %s", float64(run.Total)/float64(max(lim.CriticalPath, 1)), limitOf[run.Mode])))
	}
	s.printf("  %s\n", s.pal.dim("critical path: the longest chain of dependent calls, what no gateway can beat;\n"+
		"  level sum: each level's slowest call, added; sum: every call one after another."))
	verdict := s.pal.green("✓ sequential > staged > concurrent:")
	if !(runs[0].Fastest > runs[1].Fastest && runs[1].Fastest > runs[2].Fastest) {
		verdict = s.pal.yellow("? not in the expected order this time:")
	}
	s.printf("  %s a call should wait for its own inputs and nothing\n  else; only concurrent mode does, and so reaches the critical path.\n", verdict)
	return nil
}

// medianRun sends n results requests to mode and keeps the one with the
// median total, so that one hiccup does not make the picture.
func medianRun(ctx context.Context, st *stage, mode string, n int) (ResultsRun, error) {
	runs := make([]ResultsRun, 0, n)
	for i := range n {
		r, err := st.get(ctx, mode, resultsPath(i+1), time.Now())
		if err != nil {
			return ResultsRun{}, err
		}
		if len(r.Timing.Calls) == 0 {
			return ResultsRun{}, fmt.Errorf("GET %s (%s): no Server-Timing entries", resultsPath(i+1), mode)
		}
		total := r.Timing.Total
		if total == 0 {
			total = r.End - r.Start
		}
		runs = append(runs, ResultsRun{Mode: mode, Timing: r.Timing, Header: r.ServerTiming, Total: total})
	}
	slices.SortFunc(runs, func(a, b ResultsRun) int { return int(a.Total - b.Total) })
	median := runs[len(runs)/2]
	median.Fastest = runs[0].Total
	return median, nil
}

func spanLanes(t servertiming.Timing) []lane {
	lanes := make([]lane, len(t.Calls))
	for i, c := range t.Calls {
		lanes[i] = lane{Label: c.Name, Start: c.Start, End: c.Start + c.Duration, Note: ms(c.Duration)}
	}
	return lanes
}

// routeLimits computes the limits of the gateway's GET route under the
// backends' models cfg, from the very plan the gateway runs for it, taking
// each limit's median.
func routeLimits(route string, cfg model.Config) (Limits, error) {
	l, err := RouteLimits(route, cfg)
	if err != nil {
		return Limits{}, err
	}
	return Limits{CriticalPath: l.CriticalPath.P50, Levels: l.Levels.P50, Sum: l.Sum.P50}, nil
}

// RouteLimits computes the distributions of the limits (critical path,
// level sum, sum) of the gateway's GET route under the backends' models
// cfg, from the very plan the gateway runs for it. The live stage draws
// them beside what it measures, as the demo's acts do.
func RouteLimits(route string, cfg model.Config) (dist.Limits, error) {
	ops, err := limits.Gateway()
	if err != nil {
		return dist.Limits{}, err
	}
	op, ok := limits.Match(ops, http.MethodGet, route)
	if !ok {
		return dist.Limits{}, fmt.Errorf("limits: GET %s has no x-fanout", route)
	}
	return limits.Compute([]limits.Weighted{{Op: op, Weight: 1}}, cfg, 0, 1)
}
