package harness

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"fanout/bench/expect"
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
	if perRate && s.Load.Capacity == nil {
		rates = s.Load.Rates
	}
	out := result.Expectation{Source: e.Source, Pass: true}
	var details []string
	for _, rate := range rates {
		o, err := e.Eval(func(n expect.Name) (float64, error) { return Value(res, n, rate) })
		prefix := ""
		if rate > 0 && len(rates) > 1 {
			prefix = "@" + scenario.FormatRate(rate) + ": "
		}
		if err != nil {
			out.Pass = false
			details = append(details, prefix+"error: "+strings.TrimPrefix(err.Error(), e.Source+": "))
			continue
		}
		if !o.Holds {
			out.Pass = false
		}
		details = append(details, fmt.Sprintf("%s%s %s %s", prefix, num(o.Left), e.Op(), num(o.Right)))
	}
	out.Detail = strings.Join(details, "; ")
	return out
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
	var run *result.Run
	if len(res.Capacity) > 0 {
		var c *result.Capacity
		for i := range res.Capacity {
			if res.Capacity[i].Variant == head {
				c = &res.Capacity[i]
			}
		}
		if c == nil {
			return 0, fmt.Errorf("%s: no capacity search of %s", n, head)
		}
		if c.Capacity == 0 {
			if c.Floor > 0 {
				return 0, fmt.Errorf("%s: %s capacity below %.0f req/s, not enough samples", n, head, c.Floor)
			}
			return 0, fmt.Errorf("%s: no rate of %s held", n, head)
		}
		if metric == "capacity" {
			return c.Capacity, nil
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
			return 0, fmt.Errorf("%s: %s has no run at its capacity", n, head)
		}
	} else {
		if n.HasRate {
			rate = n.Rate
		}
		r, ok := res.Run(head, rate)
		if !ok {
			return 0, fmt.Errorf("%s: no run of %s at %s req/s", n, head, scenario.FormatRate(rate))
		}
		run = r
	}
	sum := run.Summary
	if len(n.Parts) == 3 {
		ph, ok := run.Phases[n.Parts[1]]
		if !ok {
			return 0, fmt.Errorf("%s: no phase %q in the run", n, n.Parts[1])
		}
		sum = ph
	}
	return runMetric(res, run, sum, metric, n)
}

func runMetric(res *result.Scenario, run *result.Run, sum load.Summary, metric string, n expect.Name) (float64, error) {
	if d, ok := sum.Latency.Stat(metric); ok {
		return result.Millis(d), nil
	}
	ratio := func(d, limit time.Duration) (float64, error) {
		if res.Limits == nil || limit <= 0 {
			return 0, fmt.Errorf("%s: no limits (%s)", n, res.LimitsNote)
		}
		return float64(d) / float64(limit), nil
	}
	switch metric {
	case "throughput":
		return sum.Throughput, nil
	case "rate":
		return run.Rate, nil
	case "achieved_rate":
		return sum.Rate, nil
	case "generator_cpu":
		return run.GeneratorCPUShare, nil
	case "success":
		return sum.Success, nil
	case "complete":
		return sum.Complete, nil
	case "partial":
		return sum.Partial, nil
	case "failed":
		return sum.Failed, nil
	case "errors":
		return 1 - sum.Success, nil
	case "requests":
		return float64(sum.Requests), nil
	case "cpu_per_request":
		return result.Millis(run.CPUPerRequest), nil
	case "rss_mb":
		return float64(run.PeakRSS) / (1 << 20), nil
	case "calls_per_request":
		return run.CallsPerRequest, nil
	case "rss_growth_mb":
		return float64(run.RSSGrowth) / (1 << 20), nil
	case "goroutine_growth":
		return float64(run.GoroutineGrowth), nil
	case "ratio_p50":
		if res.Limits == nil {
			return ratio(0, 0)
		}
		return ratio(sum.Latency.P50, res.Limits.CriticalPath.P50)
	case "ratio_p99":
		if res.Limits == nil {
			return ratio(0, 0)
		}
		return ratio(sum.Latency.P99, res.Limits.CriticalPath.P99)
	}
	if scenario.IsStatusMetric(metric) {
		code, _ := strconv.Atoi(strings.TrimPrefix(metric, "code_"))
		return sum.CodeFraction(code), nil
	}
	return 0, fmt.Errorf("%s: unknown metric", n)
}
