package stage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The gateway's metrics that the page shows: requests in flight (a gauge)
// and the counters of the policies the page toggles, as rates.
const (
	metricInFlight = "fanout_requests_in_flight"
)

// policyCounters maps the page's name of a policy's work to the gateway's
// counter of it.
var policyCounters = map[string]string{
	"hedges":          "fanout_hedges_sent_total",
	"shed":            "fanout_requests_shed_total",
	"breaker_refused": "fanout_breaker_refused_total",
	"coalesced":       "fanout_coalesced_calls_total",
}

// scrape reads a Prometheus text exposition from url and returns, for each
// metric name of want, the sum of its samples over every label set (a
// counter per backend becomes one figure). Names not exposed are absent.
func scrape(ctx context.Context, client *http.Client, url string, want map[string]bool) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseExposition(resp.Body, want)
}

// parseExposition sums the samples of the wanted metrics in a Prometheus
// text exposition.
func parseExposition(r io.Reader, want map[string]bool) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Label values may hold spaces: the value follows the
			// closing brace.
			j := strings.LastIndexByte(line, '}')
			if j < 0 {
				continue
			}
			name, rest, ok = line[:i], strings.TrimSpace(line[j+1:]), true
		}
		if !ok || !want[name] {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", name, value, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// counterRates turns successive readings of counters into rates per
// second. A counter that went down belongs to a new gateway process (the
// stage restarted it): its rate restarts from its new reading.
type counterRates struct {
	prev map[string]float64
	at   time.Time
}

func (c *counterRates) rates(now time.Time, cur map[string]float64) map[string]float64 {
	out := map[string]float64{}
	dt := now.Sub(c.at).Seconds()
	for page, metric := range policyCounters {
		v, ok := cur[metric]
		p, had := c.prev[metric]
		switch {
		case !ok:
		case !had || dt <= 0 || v < p:
			out[page] = 0
		default:
			out[page] = (v - p) / dt
		}
	}
	c.prev, c.at = cur, now
	return out
}
