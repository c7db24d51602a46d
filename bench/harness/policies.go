package harness

import (
	"context"

	"fanout/bench/figure"
	"fanout/bench/launch"
	"fanout/bench/result"
)

// seriesFigures names the figure of each /metrics series that one reads,
// by series: made once, from the registry.
var seriesFigures = func() map[string]string {
	names := map[string]string{}
	for _, f := range figure.All {
		if f.Series != "" {
			names[f.Series] = f.Name
		}
	}
	return names
}()

// policyCounters reads the gateway's counters of the figures that have a
// Series from its /metrics at url, summed over their labels, by figure
// name; nil if it cannot.
func policyCounters(ctx context.Context, url string) map[string]float64 {
	names := seriesFigures
	series, err := launch.ReadMetrics(ctx, url, func(name string) bool { _, ok := names[name]; return ok })
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for name, v := range series.Sums() {
		out[names[name]] = v
	}
	return out
}

// policyDelta returns what the counters counted between before and after;
// nil if either read failed or nothing was counted.
func policyDelta(before, after map[string]float64) map[string]float64 {
	if before == nil || after == nil {
		return nil
	}
	var out map[string]float64
	for k, v := range after {
		if out == nil {
			out = map[string]float64{}
		}
		out[k] = v - before[k]
	}
	return out
}

// comparePages compares the bodies of run, if it kept their hashes, with
// those of the earlier runs at the same rate: PagesCompared counts the URLs
// that one of them answered too, PagesDiffering those answered otherwise
// there, or with two bodies within run.
func comparePages(run *result.Run, earlier []result.Run) {
	if run.Bodies == nil {
		return
	}
	differing := run.BodiesDiffering
	compared := 0
	for url, h := range run.Bodies {
		seen, same := false, true
		for i := range earlier {
			e := &earlier[i]
			if e.Rate != run.Rate || e.Bodies == nil {
				continue
			}
			if eh, ok := e.Bodies[url]; ok {
				seen = true
				same = same && eh == h
			}
		}
		if seen {
			compared++
			if !same {
				differing++
			}
		}
	}
	run.PagesCompared, run.PagesDiffering = compared, differing
}
