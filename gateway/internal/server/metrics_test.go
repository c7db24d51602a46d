package server_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"fanout/gateway/internal/config"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/store/redistest"
)

// scrapeAll serves a gateway with every policy that has metrics on
// (breakers, retries, hedging, coalescing, overload protection), sends it
// a few requests so that the histograms have series, and returns its
// /metrics.
func scrapeAll(t *testing.T) []byte {
	t.Helper()
	r := config.DefaultResilience()
	r.Breaker = true
	g, _ := withFake(t, gatewayOptions{resilience: &r})
	for _, uri := range []string{"/v2/experiments/42", "/v2/experiments/42/results", "/v2/experiments/0"} {
		g.get(t, uri)
	}
	return g.admin(t, "/metrics").body
}

// TestMetricsLint: every family on /metrics has help text and a type, and
// the Prometheus linter finds nothing to say about any name (units, _total
// for counters and only for counters, base units).
func TestMetricsLint(t *testing.T) {
	body := scrapeAll(t)
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("lint /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name, f := range fams {
		if f.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("%s has no # TYPE", name)
		}
	}
	if len(fams) < 60 {
		t.Errorf("/metrics has %d families, want the gateway's and the runtime's", len(fams))
	}
}

// TestMetricsDeadline: /metrics carries the request deadline, the
// yardstick of the p99 alert, as set.
func TestMetricsDeadline(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{deadline: 750 * time.Millisecond})
	if body := g.admin(t, "/metrics").body; !bytes.Contains(body, []byte("\nfanout_request_deadline_seconds 0.75\n")) {
		t.Error("/metrics lacks fanout_request_deadline_seconds 0.75")
	}
}

// TestMetricsStoreErrors: a request that the gateway cannot check against
// a Redis that is gone is counted as a store error; here rate limits fail
// closed, so it is answered 503.
func TestMetricsStoreErrors(t *testing.T) {
	rs := redistest.Start(t)
	g, _ := withFake(t, gatewayOptions{redis: rs.URL(), edit: func(cfg *config.Config) {
		cfg.RateLimitOnStoreError = config.FailClosed
	}})
	if r := g.get(t, "/v2/experiments/42"); r.status != 200 {
		t.Fatalf("with redis: %d %s", r.status, r.body)
	}
	if body := g.admin(t, "/metrics").body; !bytes.Contains(body, []byte("\nfanout_store_errors_total 0\n")) {
		t.Errorf("/metrics lacks fanout_store_errors_total 0 while Redis answers")
	}
	rs.Stop()
	for range 2 {
		if p := checkProblem(t, g.get(t, "/v2/experiments/42"), 503); p.Type != problem.TypeStoreUnavailable {
			t.Errorf("type %q", p.Type)
		}
	}
	if body := g.admin(t, "/metrics").body; !bytes.Contains(body, []byte("\nfanout_store_errors_total 2\n")) {
		t.Errorf("/metrics lacks fanout_store_errors_total 2 after two requests without Redis")
	}
}
