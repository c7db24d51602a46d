package harness

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"fanout/bench/launch"
	"fanout/bench/result"
)

// resilienceSeries are the gateway's /metrics series that a run records in
// result.Run.Policies: what its resilience policies did.
var resilienceSeries = []string{
	"fanout_requests_shed_total",
	"fanout_overload_limit",
	"fanout_breaker_transitions_total",
	"fanout_breaker_refused_total",
	"fanout_breaker_state",
	"fanout_retries_total",
	"fanout_retries_denied_total",
}

// resilienceFigures reads the gateway's resilience series from its /metrics: each
// series, labels included, by its full name. A gateway that cannot be read
// gives nil.
func resilienceFigures(ctx context.Context, url string) map[string]float64 {
	out, err := launch.ReadMetrics(ctx, url, func(name string) bool { return slices.Contains(resilienceSeries, name) })
	if err != nil {
		slog.Warn("read gateway metrics", "err", err)
		return nil
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// phaseCalls counts the backend requests of each phase of a run with
// events: it reads the mocks' stats at the start, at each event and at the
// end, and credits each phase with the difference.
type phaseCalls struct {
	m      *mocks
	names  []string // the phases, in order
	mu     sync.Mutex
	last   map[string]int64
	phase  int
	counts map[string]map[string]int64
}

func newPhaseCalls(ctx context.Context, m *mocks, names []string) *phaseCalls {
	p := &phaseCalls{m: m, names: names, counts: map[string]map[string]int64{}}
	p.last, _ = m.served(ctx)
	return p
}

// next closes the current phase; the next one starts.
func (p *phaseCalls) next(ctx context.Context) {
	now, err := p.m.served(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && p.last != nil && p.phase < len(p.names) {
		c := map[string]int64{}
		for svc, n := range now {
			c[svc] = n - p.last[svc]
		}
		p.counts[p.names[p.phase]] = c
	}
	p.last = now
	p.phase++
}

// result returns the counts of the phases closed so far.
func (p *phaseCalls) result() map[string]map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.counts) == 0 {
		return nil
	}
	return p.counts
}

// callsPerSecond is the metric calls_per_s_SERVICE: the requests a backend
// served per second, over the run or one phase of it (whose window is the
// summary's).
func callsPerSecond(run *result.Run, phase, service string, window time.Duration) (float64, bool) {
	calls := run.BackendCalls
	if phase != "" {
		calls = run.PhaseBackendCalls[phase]
	}
	n, ok := calls[service]
	if !ok || window <= 0 {
		return 0, false
	}
	return float64(n) / window.Seconds(), true
}
