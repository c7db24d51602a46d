// Package metrics holds the gateway's Prometheus metrics: request latency by
// route and status, backend call latency by call, in-flight gauges and errors
// by kind. Observing costs no allocation: every series is created once, at
// start-up or on its first use.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Buckets are the histograms' upper bounds in seconds, dense around the
// tens of milliseconds that backend calls and fan-outs take.
var Buckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
	0.06, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10,
}

// Kinds of error counted by Error.
const (
	KindInvalidRequest = "invalid_request"
	KindNotFound       = "not_found"
	KindBadGateway     = "bad_gateway"
	KindTimeout        = "timeout"
	KindUnavailable    = "unavailable"
	KindPartial        = "partial"
	KindInternal       = "internal"
	// KindClientGone: the client went away (closed, reset, or shut down
	// its sending side) before its answer; nobody was answered.
	KindClientGone = "client_gone"
)

// Metrics is one gateway's set of metrics. It is safe for concurrent use.
type Metrics struct {
	set      *vm.Set
	inFlight atomic.Int64

	mu     sync.Mutex
	errors map[string]*vm.Counter
	store  *vm.Counter
	// uncheckedLimit and uncheckedIdem count the requests let through
	// without their check while the store failed.
	uncheckedLimit, uncheckedIdem *vm.Counter
}

// Checks on the shared store that may fail open, the values of the check
// label of fanout_store_unchecked_total.
const (
	CheckRateLimit   = "rate_limit"
	CheckIdempotency = "idempotency"
)

// New returns an empty set of metrics with the request in-flight gauge,
// the error counters by kind and the store's error counter.
func New() *Metrics {
	m := &Metrics{set: vm.NewSet(), errors: map[string]*vm.Counter{}}
	m.set.NewGauge("fanout_requests_in_flight", func() float64 { return float64(m.inFlight.Load()) })
	for _, k := range []string{KindInvalidRequest, KindNotFound, KindBadGateway, KindTimeout, KindUnavailable, KindPartial, KindInternal, KindClientGone} {
		m.errors[k] = m.set.NewCounter(fmt.Sprintf(`fanout_errors_total{kind=%q}`, k))
	}
	m.store = m.set.NewCounter("fanout_store_errors_total")
	m.uncheckedLimit = m.set.NewCounter(`fanout_store_unchecked_total{check="` + CheckRateLimit + `"}`)
	m.uncheckedIdem = m.set.NewCounter(`fanout_store_unchecked_total{check="` + CheckIdempotency + `"}`)
	return m
}

// Unchecked counts one request let through without its check (CheckRateLimit
// or CheckIdempotency) because the store failed and the check fails open.
func (m *Metrics) Unchecked(check string) {
	if check == CheckIdempotency {
		m.uncheckedIdem.Inc()
		return
	}
	m.uncheckedLimit.Inc()
}

// StoreError counts one failed operation on the shared store (a rate
// limit check, or an idempotency record's claim, release or save).
func (m *Metrics) StoreError() { m.store.Inc() }

// Begin counts a request in flight; End counts it out.
func (m *Metrics) Begin() { m.inFlight.Add(1) }

// End counts a request no longer in flight.
func (m *Metrics) End() { m.inFlight.Add(-1) }

// InFlight returns the number of requests in flight.
func (m *Metrics) InFlight() int64 { return m.inFlight.Load() }

// Error counts one error of the given kind (one of the Kind constants).
func (m *Metrics) Error(kind string) {
	c := m.errors[kind]
	if c == nil {
		m.mu.Lock()
		c = m.set.GetOrCreateCounter(fmt.Sprintf(`fanout_errors_total{kind=%q}`, kind))
		m.mu.Unlock()
	}
	c.Inc()
}

// Gauge registers a gauge read from f at each scrape, e.g. the calls in
// flight to one backend. labels is `name="value",...` or "". name must be
// a gauge of Families.
func (m *Metrics) Gauge(name, labels string, f func() float64) { m.read(name, labels, f) }

// CounterFunc registers a counter read from f at each scrape, e.g. the
// hedges that one Hedger sent; f must never decrease. labels is
// `name="value",...` or "". name must be a counter of Families, which
// gives it its type on /metrics.
func (m *Metrics) CounterFunc(name, labels string, f func() float64) { m.read(name, labels, f) }

// read registers a series whose value f gives at each scrape.
func (m *Metrics) read(name, labels string, f func() float64) {
	if labels != "" {
		name += "{" + labels + "}"
	}
	m.set.GetOrCreateGauge(name, f)
}

// Route returns the request latency histograms of one route, created on
// first use per status.
func (m *Metrics) Route(method, route string) *Route {
	return &Route{set: m.set, labels: fmt.Sprintf(`method=%q,route=%q`, method, route)}
}

// Call returns the latency histogram of one backend call of an operation.
func (m *Metrics) Call(operation, call, backend string) *Call {
	labels := fmt.Sprintf(`operation=%q,call=%q,backend=%q`, operation, call, backend)
	return &Call{
		ok:     m.set.GetOrCreatePrometheusHistogramExt(`fanout_backend_call_duration_seconds{`+labels+`,outcome="ok"}`, Buckets),
		failed: m.set.GetOrCreatePrometheusHistogramExt(`fanout_backend_call_duration_seconds{`+labels+`,outcome="failed"}`, Buckets),
		stray:  m.set.GetOrCreateCounter(`fanout_backend_stray_answers_total{` + labels + `}`),
	}
}

// WritePrometheus writes every metric in the Prometheus text format,
// followed by the Go runtime and process metrics, each family once, under
// its # HELP and # TYPE lines from Families. A family that Families lacks is
// written untyped and without help, which the metrics lint test reports.
func (m *Metrics) WritePrometheus(w io.Writer) {
	var b bytes.Buffer
	m.set.WritePrometheus(&b)
	vm.WriteProcessMetrics(&b)
	writeFamilies(w, b.Bytes())
}

// byName indexes Families by name.
var byName = func() map[string]*Family {
	m := make(map[string]*Family, len(Families))
	for i := range Families {
		m[Families[i].Name] = &Families[i]
	}
	return m
}()

// family returns the family that a sample's name belongs to: the name
// itself, or for a histogram's or summary's series, the name without its
// _bucket, _sum or _count suffix. f is nil for a family Families lacks.
func family(name string) (string, *Family) {
	if f := byName[name]; f != nil {
		return name, f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := byName[base]; f != nil && (f.Type == "histogram" || f.Type == "summary") {
				return base, f
			}
		}
	}
	return name, nil
}

// writeFamilies writes the samples of text (the exposition format without
// metadata) grouped by family, in the order each family first appears,
// each group under its # HELP and # TYPE lines. Grouping matters because
// a family's samples must be contiguous and VictoriaMetrics/metrics sorts
// its series by their whole name, labels included. It runs once per scrape,
// off the request path.
func writeFamilies(w io.Writer, text []byte) {
	var order []string
	groups := map[string]*bytes.Buffer{}
	for line := range bytes.Lines(text) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		end := bytes.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name := string(line[:end])
		if to, ok := renamed[name]; ok {
			name, line = to, append([]byte(to), line[end:]...)
		}
		fam, f := family(name)
		g := groups[fam]
		if g == nil {
			g = &bytes.Buffer{}
			if f != nil {
				fmt.Fprintf(g, "# HELP %s %s\n# TYPE %s %s\n", fam, f.Help, fam, f.Type)
			} else {
				fmt.Fprintf(g, "# TYPE %s untyped\n", fam)
			}
			groups[fam] = g
			order = append(order, fam)
		}
		g.Write(line)
	}
	for _, fam := range order {
		_, _ = w.Write(groups[fam].Bytes())
	}
}

// Route holds the latency histograms of one route, one per status.
type Route struct {
	set      *vm.Set
	labels   string
	byStatus [600]atomic.Pointer[vm.PrometheusHistogram]
}

// Observe records one request's duration under its status.
func (r *Route) Observe(status int, d time.Duration) {
	if status < 100 || status >= len(r.byStatus) {
		status = 599
	}
	h := r.byStatus[status].Load()
	if h == nil {
		h = r.set.GetOrCreatePrometheusHistogramExt(
			`fanout_request_duration_seconds{`+r.labels+`,status="`+strconv.Itoa(status)+`"}`, Buckets)
		r.byStatus[status].Store(h)
	}
	h.Update(d.Seconds())
}

// Call holds the latency histograms of one backend call, and the count
// of its answers refused as not its own.
type Call struct {
	ok, failed *vm.PrometheusHistogram
	stray      *vm.Counter
}

// Stray counts an answer of the call that was for another resource than
// the one asked for (a stray answer on a connection out of step), so that
// the call asked again.
func (c *Call) Stray() { c.stray.Inc() }

// Strays returns the number of answers counted by Stray.
func (c *Call) Strays() uint64 { return c.stray.Get() }

// Observe records one call's time in the backend client. ok is false for a
// transport error or a non-2xx status.
func (c *Call) Observe(d time.Duration, ok bool) {
	if ok {
		c.ok.Update(d.Seconds())
	} else {
		c.failed.Update(d.Seconds())
	}
}
