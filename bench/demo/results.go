package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

// The aggregate operation whose waterfall the results act draws.
const (
	resultsRoute = "/v2/experiments/{experiment_id}/results"
	resultsOp    = "getExperimentResults"
)

func resultsPath(id int) string { return fmt.Sprintf("/v2/experiments/%d/results", id) }

// resultsModes are the modes the waterfall compares, slowest first.
var resultsModes = []string{"sequential", "staged", "concurrent"}

// ResultsRun is one results-page request in one mode, as its Server-Timing
// header tells it.
type ResultsRun struct {
	Mode   string
	Timing Timing
	// Total is the gateway's reported total (or, without one, what the
	// client measured).
	Total time.Duration
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
		"GET %s needs four backend calls: the experiment, then its layer and its\n"+
			"project's settings (both need fields of the experiment), and its results (which need\n"+
			"only the id). The gateway's Server-Timing header tells when each call ran.\n", resultsRoute))
	st, err := startStage(ctx, p.bins, p.logs, nil, []gatewaySpec{{Mode: "sequential"}, {Mode: "staged"}, {Mode: "concurrent"}})
	if err != nil {
		return err
	}
	defer st.stop()
	plan, err := fetchPlan(ctx, st.client, st.url("concurrent", "/openapi.json"), resultsRoute)
	if err != nil {
		return err
	}
	limits := planLimits(plan, model.Default())
	p.report.ResultsLimits = limits
	if err := st.warm(ctx, resultsPath(1)); err != nil {
		return err
	}

	runs := make([]ResultsRun, 0, len(resultsModes))
	span := limits.Sum
	for _, mode := range resultsModes {
		run, err := medianRun(ctx, st, mode, 3)
		if err != nil {
			return err
		}
		runs = append(runs, run)
		span = max(span, run.Total)
		for _, sp := range run.Timing.Spans {
			span = max(span, sp.End())
		}
	}
	p.report.Results = runs
	span = span * 21 / 20

	for _, run := range runs {
		s.printf("\n%s  total %s\n", s.pal.bold(pad(run.Mode, 11)), s.pal.bold(ms(run.Total)))
		lanes := spanLanes(run.Timing)
		timeline(s, s.pal, "  ", lanes, span, s.width)
		if s.page != nil {
			svg, err := ganttSVG(fmt.Sprintf("%s: total %s", run.Mode, ms(run.Total)), lanes, span, []limitLine{
				{x: msf(limits.CriticalPath), label: "critical path " + ms(limits.CriticalPath)},
				{x: msf(limits.Sum), label: "sum " + ms(limits.Sum)},
			})
			if err != nil {
				return err
			}
			s.chart(svg, run.Mode+" mode: one request's backend calls from Server-Timing")
		}
	}

	s.printf("\n%s\n", s.pal.bold("each total beside its limits"))
	limitOf := map[string]string{
		"sequential": fmt.Sprintf("sum of the calls %s", ms(limits.Sum)),
		"staged":     fmt.Sprintf("slowest call of each level, added %s", ms(limits.Levels)),
		"concurrent": fmt.Sprintf("critical path %s", ms(limits.CriticalPath)),
	}
	barW := s.width * 3 / 4
	for _, run := range runs {
		s.printf("  %s %s %s  %s\n", pad(run.Mode, 11),
			pad(s.pal.cyan(hbar(msf(run.Total), msf(span), barW)), barW), pad(ms(run.Total), 8),
			s.pal.dim(fmt.Sprintf("%.2f× critical path · limit: %s", float64(run.Total)/float64(max(limits.CriticalPath, 1)), limitOf[run.Mode])))
	}
	s.printf("  critical path %s · sum %s\n", ms(limits.CriticalPath), ms(limits.Sum))
	verdict := s.pal.green("✓ sequential > staged > concurrent:")
	if !(runs[0].Total > runs[1].Total && runs[1].Total > runs[2].Total) {
		verdict = s.pal.yellow("? not in the expected order this time:")
	}
	s.printf("  %s each call that waits for no other should start at once; only concurrent mode\n  waits for nothing but the calls' own inputs, and so reaches the critical path.\n", verdict)
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
		if len(r.Timing.Spans) == 0 {
			return ResultsRun{}, fmt.Errorf("GET %s (%s): no Server-Timing entries", resultsPath(i+1), mode)
		}
		total := r.Timing.Total
		if total == 0 {
			total = r.End - r.Start
		}
		runs = append(runs, ResultsRun{Mode: mode, Timing: r.Timing, Total: total})
	}
	slices.SortFunc(runs, func(a, b ResultsRun) int { return int(a.Total - b.Total) })
	return runs[len(runs)/2], nil
}

func spanLanes(t Timing) []lane {
	lanes := make([]lane, len(t.Spans))
	for i, sp := range t.Spans {
		lanes[i] = lane{Label: sp.Name, Start: sp.Start, End: sp.End(), Note: ms(sp.Dur)}
	}
	return lanes
}

// fetchPlan reads the gateway's OpenAPI document and compiles the x-fanout
// calls of the GET operation on route, the same plan the gateway runs.
func fetchPlan(ctx context.Context, c *http.Client, url, route string) (*fanout.Plan, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch plan: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch plan: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch plan: GET %s: status %d: %v", url, resp.StatusCode, err)
	}
	return planFromSpec(body, route)
}

// xFanout is the part of the OpenAPI document the demo reads.
type xFanout struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Fanout      *struct {
			Calls []struct {
				Name     string `json:"name"`
				Backend  string `json:"backend"`
				Method   string `json:"method"`
				Path     string `json:"path"`
				Optional bool   `json:"optional"`
			} `json:"calls"`
		} `json:"x-fanout"`
	} `json:"paths"`
}

var placeholder = regexp.MustCompile(`\{([^{}]+)\}`)

// planFromSpec compiles the x-fanout of GET route in an OpenAPI document
// (JSON).
func planFromSpec(doc []byte, route string) (*fanout.Plan, error) {
	var d xFanout
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("read openapi document: %w", err)
	}
	op, ok := d.Paths[route]["get"]
	if !ok || op.Fanout == nil {
		return nil, fmt.Errorf("openapi document: GET %s has no x-fanout", route)
	}
	var calls []fanout.CallSpec
	var params []string
	for _, c := range op.Fanout.Calls {
		calls = append(calls, fanout.CallSpec{Name: c.Name, Backend: c.Backend, Method: c.Method, Path: c.Path, Optional: c.Optional})
		// A reference without a dot names a request parameter.
		for _, m := range placeholder.FindAllStringSubmatch(c.Path, -1) {
			if !strings.Contains(m[1], ".") && !slices.Contains(params, m[1]) {
				params = append(params, m[1])
			}
		}
	}
	name := op.OperationID
	if name == "" {
		name = "GET " + route
	}
	return fanout.Compile(name, calls, params)
}

// planLimits computes a plan's limits from the backends' latency models,
// taking each call's median latency.
func planLimits(p *fanout.Plan, cfg model.Config) Limits {
	d := func(c fanout.Call) time.Duration {
		path := placeholder.ReplaceAllString(c.Spec.Path, "1")
		route, ok := model.MatchRoute(c.Spec.Backend, c.Spec.Method, path)
		if !ok {
			return 0
		}
		return cfg.RouteLatency(c.Spec.Backend, route).Quantile(0.5)
	}
	return Limits{CriticalPath: p.CriticalPath(d), Levels: p.LevelSum(d), Sum: p.Sum(d)}
}
