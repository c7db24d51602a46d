package launch

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fanout/mockbackends/mock"
)

// MetricsTimeout bounds one read of a /metrics page, which a gateway
// renders at once, even under load: a slow one is a stuck process.
const MetricsTimeout = 2 * time.Second

// Series are samples of a Prometheus text exposition, by series: the
// metric's name with its labels as exposed
// (`fanout_hedges_sent_total{operation="x"}`), or its name alone.
type Series map[string]float64

// Sums returns each metric's samples summed over its label sets: a
// counter per backend becomes one figure.
func (s Series) Sums() map[string]float64 {
	out := map[string]float64{}
	for series, v := range s {
		name, _, _ := strings.Cut(series, "{")
		out[name] += v
	}
	return out
}

// ReadMetrics reads the Prometheus text exposition at url (a gateway's
// /metrics) and returns the samples of the metrics whose name keep
// accepts. It is the bench's one reader of /metrics.
func ReadMetrics(ctx context.Context, url string, keep func(name string) bool) (Series, error) {
	ctx, cancel := context.WithTimeout(ctx, MetricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", url, err)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics %s: %s", url, resp.Status)
	}
	s, err := ParseMetrics(resp.Body, keep)
	if err != nil {
		return nil, fmt.Errorf("read metrics %s: %w", url, err)
	}
	return s, nil
}

// ParseMetrics reads the samples of the metrics whose name keep accepts
// from a Prometheus text exposition. A value that is not a number is an
// error; comments and other metrics are skipped.
func ParseMetrics(r io.Reader, keep func(name string) bool) (Series, error) {
	out := Series{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, rest, ok := strings.Cut(line, " ")
		name := series
		if i := strings.IndexByte(series, '{'); i >= 0 {
			// Label values may hold spaces: the value follows the
			// closing brace.
			j := strings.LastIndexByte(line, '}')
			if j < 0 {
				continue
			}
			name, series, rest, ok = line[:i], line[:j+1], strings.TrimSpace(line[j+1:]), true
		}
		if !ok || !keep(name) {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", name, value, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// MockStats reads the stats of the mock service served at addr
// (host:port), from GET /_admin/stats. It is the bench's one reader of
// them: the mocks' own type, not a copy of its fields.
func MockStats(ctx context.Context, addr string) (mock.Stats, error) {
	var st mock.Stats
	if err := GetJSON(ctx, "http://"+addr+"/_admin/stats", &st); err != nil {
		return mock.Stats{}, fmt.Errorf("stats of %s: %w", addr, err)
	}
	return st, nil
}
