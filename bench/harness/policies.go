package harness

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/mockbackends/model"
)

// policySeries maps the gateway's policy counters on /metrics to their
// names in a run's Policies (and in expectations): summed over operations
// and calls.
var policySeries = map[string]string{
	"fanout_hedges_sent_total":     "hedges_sent",
	"fanout_hedges_won_total":      "hedges_won",
	"fanout_coalesced_calls_total": "coalesced_calls",
	"fanout_cache_hits_total":      "cache_hits",
	"fanout_cache_misses_total":    "cache_misses",
	// Answers for another resource than asked, which the gateway refused
	// and asked again for (a backend's stray answers).
	"fanout_backend_stray_answers_total": "stray_answers",
}

func init() {
	for _, name := range policySeries {
		runFigures[name] = func(run *result.Run, _ load.Summary) float64 { return run.Policies[name] }
	}
	runFigures["pages_compared"] = func(run *result.Run, _ load.Summary) float64 { return float64(run.PagesCompared) }
	runFigures["pages_differing"] = func(run *result.Run, _ load.Summary) float64 { return float64(run.PagesDiffering) }
	for _, svc := range model.Services {
		runFigures["calls_per_request_"+svc] = func(run *result.Run, _ load.Summary) float64 {
			if run.Requests == 0 {
				return 0
			}
			return float64(run.BackendCalls[svc]) / float64(run.Requests)
		}
	}
}

// policyCounters reads the gateway's policy counters from its /metrics at
// url, summed per name of policySeries; nil if it cannot.
func policyCounters(ctx context.Context, url string) map[string]float64 {
	series, err := readMetrics(ctx, url, func(name string) bool { _, ok := policySeries[name]; return ok })
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for s, v := range series {
		name, _, _ := strings.Cut(s, "{")
		out[policySeries[name]] += v
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
