package harness

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fanout/bench/figure"
	"fanout/bench/result"
)

// policyCounters reads the gateway's counters of the figures that have a
// Series from its /metrics at url, summed over their labels, by figure
// name; nil if it cannot.
func policyCounters(ctx context.Context, url string) map[string]float64 {
	names := map[string]string{}
	for _, f := range figure.All {
		if f.Series != "" {
			names[f.Series] = f.Name
		}
	}
	series, err := readMetrics(ctx, url, func(name string) bool { _, ok := names[name]; return ok })
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for s, v := range series {
		name, _, _ := strings.Cut(s, "{")
		out[names[name]] += v
	}
	return out
}

// readMetrics reads the gateway's /metrics at url: the value of each series
// (by its full name, labels included) whose metric name keep accepts.
func readMetrics(ctx context.Context, url string, keep func(name string) bool) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		series, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if name, _, _ := strings.Cut(series, "{"); !keep(name) {
			continue
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			out[series] = n
		}
	}
	return out, sc.Err()
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
