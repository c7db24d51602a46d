package harness

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fanout/bench/expect"
	"fanout/bench/figure"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// evaluate checks every expectation of s against res. A name without "@RATE"
// is evaluated at every rate of the scenario, and the expectation holds only
// if it holds at each.
func evaluate(s *scenario.Scenario, res *result.Scenario) []result.Expectation {
	var out []result.Expectation
	for _, e := range s.Expect {
		out = append(out, evaluateOne(e, s, res))
	}
	return out
}

func evaluateOne(e *expect.Expectation, s *scenario.Scenario, res *result.Scenario) result.Expectation {
	perRate := false
	for _, n := range e.Names() {
		if _, limit := scenario.LimitNames[n.Parts[0]]; !limit && !n.HasRate {
			perRate = true
		}
	}
	rates := []float64{0}
	// A cost scenario's figures are its configurations' medians, at
	// its one rate: judged once.
	if perRate && s.Load.Capacity == nil && s.Cost == nil {
		rates = s.Load.Rates
	}
	// The verdicts of the rates, from the strongest: one failure fails the
	// expectation, then a step never run, then too little data.
	verdicts := map[string]bool{}
	var details []string
	for _, rate := range rates {
		prefix := ""
		if rate > 0 && len(rates) > 1 {
			prefix = "@" + load.FormatRate(rate) + ": "
		}
		verdict, detail := evaluateAt(e, res, rate)
		verdicts[verdict] = true
		details = append(details, prefix+detail)
	}
	out := result.Expectation{Source: e.Source, Verdict: result.Holds, Detail: strings.Join(details, "; ")}
	for _, v := range []string{result.Fails, result.NotRun, result.NotEnoughData} {
		if verdicts[v] {
			out.Verdict = v
			break
		}
	}
	out.Pass = out.Verdict == result.Holds
	return out
}

// evaluateAt judges e at one rate and shows its two sides, or why it could
// not be judged.
func evaluateAt(e *expect.Expectation, res *result.Scenario, rate float64) (verdict, detail string) {
	o, err := e.Eval(func(n expect.Name) (float64, error) { return Value(res, n, rate) })
	switch {
	case err != nil && res.Interrupted && errors.Is(err, errNoRun):
		return result.NotRun, "not run: the run was interrupted before this step"
	case err != nil:
		return result.Fails, "error: " + strings.TrimPrefix(err.Error(), e.Source+": ")
	}
	sides := fmt.Sprintf("%s %s %s", num(o.Left), e.Op(), num(o.Right))
	if msg := mistakenSteps(e, res, rate); msg != "" {
		return result.Fails, sides + " (" + msg + ")"
	}
	if msg := thinTails(e, res, rate); msg != "" {
		return result.NotEnoughData, sides + " (" + msg + ")"
	}
	if !o.Holds {
		return result.Fails, sides
	}
	return result.Holds, sides
}

// MistakenShare is the share of a step's answers beyond which the step
// measured its own requests' mistakes rather than the workload: above it,
// most answers were client errors (4xx other than 429: an unknown path,
// a bad token, an invalid parameter, an unknown id), and every expectation
// on the step fails, whatever its figures say.
const MistakenShare = 0.5

// mistakenSteps names the steps that e reads at rate whose answers were
// mostly client errors, with their status counts; "" if none was.
func mistakenSteps(e *expect.Expectation, res *result.Scenario, rate float64) string {
	var bad []string
	for _, n := range e.Names() {
		if _, limit := scenario.LimitNames[n.Parts[0]]; limit {
			continue
		}
		_, sum, err := summaryOf(res, n, rate)
		if err != nil || sum.Requests == 0 {
			continue
		}
		mistaken := map[string]int{}
		total := 0
		for code, count := range sum.Codes {
			if c, err := strconv.Atoi(code); err == nil && c >= 400 && c < 500 && c != 429 {
				mistaken[code] = count
				total += count
			}
		}
		if share := float64(total) / float64(sum.Requests); share > MistakenShare {
			step := n.Parts[0]
			if len(n.Parts) == 3 {
				step += "." + n.Parts[1]
			}
			if msg := fmt.Sprintf("%s: %.0f%% of the answers were client errors (%s)", step, 100*share, load.FormatCounts(mistaken)); !slices.Contains(bad, msg) {
				bad = append(bad, msg)
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, ", ") + ": the requests were wrong, the step measured nothing of the workload"
}

func num(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f >= 100 || f <= -100:
		return strconv.FormatFloat(f, 'f', 1, 64)
	case f >= 1 || f <= -1:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// Value resolves a name of an expectation against a scenario's results. rate
// is the rate a name without "@RATE" refers to (ignored for capacity
// searches, where a variant's figures are those of its highest passing
// probe). Latencies are in milliseconds.
func Value(res *result.Scenario, n expect.Name, rate float64) (float64, error) {
	head := n.Parts[0]
	if _, ok := scenario.LimitNames[head]; ok {
		if res.Limits == nil {
			return 0, fmt.Errorf("%s: no limits (%s)", n, res.LimitsNote)
		}
		stat := "p50"
		if len(n.Parts) == 2 {
			stat = n.Parts[1]
		}
		dist := res.Limits.CriticalPath
		switch head {
		case "sum":
			dist = res.Limits.Sum
		case "levels":
			dist = res.Limits.Levels
		}
		d, ok := dist.Stat(stat)
		if !ok {
			return 0, fmt.Errorf("%s: unknown statistic", n)
		}
		return result.Millis(d), nil
	}
	metric := n.Parts[len(n.Parts)-1]
	if res.Cost != nil {
		return costValue(res.Cost, n)
	}
	if len(res.Capacity) > 0 && metric == "capacity" {
		c, err := capacityOf(res, n)
		if err != nil {
			return 0, err
		}
		return c.Capacity, nil
	}
	run, sum, err := summaryOf(res, n, rate)
	if err != nil {
		return 0, err
	}
	return runMetric(res, run, sum, metric, n)
}

// errNoRun is the error of a name whose step has no run: in an
// interrupted run, a step it did not reach.
var errNoRun = errors.New("no run")

// capacityOf returns the capacity search named by n's variant, if a rate of
// it held.
func capacityOf(res *result.Scenario, n expect.Name) (*result.Capacity, error) {
	head := n.Parts[0]
	var c *result.Capacity
	for i := range res.Capacity {
		if res.Capacity[i].Variant == head {
			c = &res.Capacity[i]
		}
	}
	if c == nil {
		return nil, fmt.Errorf("%s: %w: no capacity search of %s", n, errNoRun, head)
	}
	if c.Capacity == 0 {
		if c.Floor > 0 {
			return nil, fmt.Errorf("%s: %s capacity below %.0f req/s, not enough samples", n, head, c.Floor)
		}
		return nil, fmt.Errorf("%s: no rate of %s held", n, head)
	}
	return c, nil
}

// summaryOf returns the run and the summary (the run's, or one phase's) that
// a name of a run figure refers to at rate.
func summaryOf(res *result.Scenario, n expect.Name, rate float64) (*result.Run, load.Summary, error) {
	head := n.Parts[0]
	var run *result.Run
	if len(res.Capacity) > 0 {
		c, err := capacityOf(res, n)
		if err != nil {
			return nil, load.Summary{}, err
		}
		// The figures of a capacity are those of its hold (the last
		// run at that rate).
		for i := range res.Runs {
			r := &res.Runs[i]
			if r.Variant == head && r.Rate == c.Capacity {
				run = r
			}
		}
		if run == nil {
			return nil, load.Summary{}, fmt.Errorf("%s: %s has no run at its capacity", n, head)
		}
	} else {
		if n.HasRate {
			rate = n.Rate
		}
		r, ok := res.Run(head, rate)
		if !ok {
			return nil, load.Summary{}, fmt.Errorf("%s: %w of %s at %s req/s", n, errNoRun, head, load.FormatRate(rate))
		}
		run = r
	}
	sum := run.Summary
	if len(n.Parts) == 3 {
		ph, ok := run.Phases[n.Parts[1]]
		if !ok {
			return nil, load.Summary{}, fmt.Errorf("%s: no phase %q in the run", n, n.Parts[1])
		}
		sum = ph
	}
	return run, sum, nil
}

// thinTails names the p99s and p999s of an expectation (the ok_, failed_
// and refused_ ones and ratio_p99 too) that rest on fewer than
// load.MinSamples requests at rate: such an expectation neither holds nor
// fails, since a handful of requests decide its figure.
func thinTails(e *expect.Expectation, res *result.Scenario, rate float64) string {
	var thin []string
	for _, n := range e.Names() {
		if _, limit := scenario.LimitNames[n.Parts[0]]; limit {
			continue
		}
		if f, ok := figure.Lookup(n.Parts[len(n.Parts)-1]); !ok || !f.Tail {
			continue
		}
		if _, sum, err := summaryOf(res, n, rate); err == nil && !sum.EnoughSamples() {
			thin = append(thin, fmt.Sprintf("%s on %d requests", n, sum.Requests))
		}
	}
	if len(thin) == 0 {
		return ""
	}
	return fmt.Sprintf("not enough data: %s, fewer than %d", strings.Join(thin, ", "), load.MinSamples)
}

func runMetric(res *result.Scenario, run *result.Run, sum load.Summary, metric string, n expect.Name) (float64, error) {
	if f, ok := figure.Lookup(metric); ok {
		v, err := f.Get(figure.Source{Run: run, Sum: sum, Limits: res.Limits})
		if errors.Is(err, figure.ErrNoLimits) {
			return 0, fmt.Errorf("%s: no limits (%s)", n, res.LimitsNote)
		}
		return v, err
	}
	if _, ok := scenario.FleetMetrics[metric]; ok {
		return fleetMetric(run, n, metric)
	}
	if scenario.IsStatusMetric(metric) {
		code, _ := strconv.Atoi(strings.TrimPrefix(metric, "code_"))
		return sum.CodeFraction(code), nil
	}
	if svc, ok := strings.CutPrefix(metric, scenario.CallsPerSecondPrefix); ok {
		phase := ""
		if len(n.Parts) == 3 {
			phase = n.Parts[1]
		}
		if v, ok := callsPerSecond(run, phase, svc, sum.Window); ok {
			return v, nil
		}
		return 0, fmt.Errorf("%s: no count of the backend calls of %s", n, svc)
	}
	return 0, fmt.Errorf("%s: unknown metric", n)
}

// costValue resolves CONFIG.METRIC of a cost scenario: the median over
// its rounds (scenario.CostMetrics).
func costValue(c *result.Cost, n expect.Name) (float64, error) {
	row, ok := c.Row(n.Parts[0])
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: %w of %s", n, errNoRun, n.Parts[0])
	case row.Error != "":
		return 0, fmt.Errorf("%s: %s was not measured: %s", n, row.Name, row.Error)
	}
	var s result.Spread
	switch n.Parts[len(n.Parts)-1] {
	case "cpu_per_request":
		s = row.CPU()
	case "allocs_per_request":
		s = row.Allocs()
	case "cpu_ratio":
		floor, ok := c.Floor()
		if !ok {
			return 0, fmt.Errorf("%s: no floor among the configurations", n)
		}
		s = row.Ratio(floor)
	default:
		return 0, fmt.Errorf("%s: unknown metric", n)
	}
	if s.N == 0 {
		return 0, fmt.Errorf("%s: %w: no round of %s measured it", n, errNoRun, row.Name)
	}
	return s.Median, nil
}
