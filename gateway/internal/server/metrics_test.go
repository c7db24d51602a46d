package server_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"fanout/gateway/internal/config"
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
