package server_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"

	"github.com/valyala/fasthttp"
)

// breakerOn is the default policies with the breakers on: three faults in
// a row open one, for open before a probe.
func breakerOn(open time.Duration) *config.Resilience {
	r := config.DefaultResilience()
	r.Breaker, r.BreakerFailures, r.BreakerOpen = true, 3, open
	return &r
}

// TestBreakerFailsFast: once a required call's backend has failed three
// times in a row, pages are refused at once with 503, kind circuit_open and
// Retry-After, without any backend call; once the backend is back, a probe
// closes the breaker and pages are served again.
func TestBreakerFailsFast(t *testing.T) {
	g, f := withFake(t, gatewayOptions{resilience: breakerOn(300 * time.Millisecond)})
	f.Set("results", backendtest.Behaviour{Status: 500})
	for range 3 {
		checkProblem(t, g.get(t, "/v2/experiments/42/results"), fasthttp.StatusBadGateway)
	}
	results, experiments := f.Calls("results"), f.Calls("experiments")
	r := g.get(t, "/v2/experiments/42/results")
	p := checkProblem(t, r, fasthttp.StatusServiceUnavailable)
	if p.Kind != "circuit_open" || p.Call != "results" || p.Type != problem.TypeUnavailable {
		t.Errorf("problem %s, want kind circuit_open naming call results", r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	g.validateResponse(t, fasthttp.MethodGet, "/v2/experiments/42/results", r)
	if f.Calls("results") != results || f.Calls("experiments") != experiments {
		t.Error("a refused page still called the backends")
	}
	// Other operations that do not need the backend are served.
	if r := g.get(t, "/v2/experiments/42"); r.status != fasthttp.StatusOK {
		t.Errorf("experiment: %d %s", r.status, r.body)
	}

	f.Set("results", backendtest.Behaviour{})
	poll.Until(t, 10*time.Second, "a page served after the backend's return", func() bool {
		return g.get(t, "/v2/experiments/42/results").status == fasthttp.StatusOK
	})
	body := g.admin(t, "/metrics").body
	for _, want := range []string{
		`fanout_breaker_state{backend="results"} 0`,
		`fanout_breaker_transitions_total{backend="results",from="closed",to="open"} 1`,
		`fanout_breaker_transitions_total{backend="results",from="half-open",to="closed"} 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestBreakerSkipsOptional: an optional call whose backend's breaker is
// open is not sent; the page is partial and lists it as circuit_open.
func TestBreakerSkipsOptional(t *testing.T) {
	g, f := withFake(t, gatewayOptions{resilience: breakerOn(time.Minute)})
	f.Set("layers", backendtest.Behaviour{Status: 503})
	for range 3 {
		if r := g.get(t, "/v2/experiments/42/results"); r.status != fasthttp.StatusOK {
			t.Fatalf("page with a failing optional call: %d %s", r.status, r.body)
		}
	}
	layers := f.Calls("layers")
	r := g.get(t, "/v2/experiments/42/results")
	if r.status != fasthttp.StatusOK || r.header.Get(server.PartialHeader) != "layer" {
		t.Fatalf("page: %d %s %s", r.status, r.header.Get(server.PartialHeader), r.body)
	}
	var page struct {
		Missing []struct{ Call, Kind string }
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Missing) != 1 || page.Missing[0].Call != "layer" || page.Missing[0].Kind != "circuit_open" {
		t.Errorf("missing %+v, want layer circuit_open", page.Missing)
	}
	if f.Calls("layers") != layers {
		t.Error("the open breaker let the layer call through")
	}
}

// TestBreakerIgnores404: a backend answering 404 is healthy: the breaker
// stays closed however often it does.
func TestBreakerIgnores404(t *testing.T) {
	g, f := withFake(t, gatewayOptions{resilience: breakerOn(time.Minute)})
	f.Set("results", backendtest.Behaviour{Status: 404})
	for range 6 {
		g.get(t, "/v2/experiments/42/results")
	}
	before := f.Calls("results")
	g.get(t, "/v2/experiments/42/results")
	if f.Calls("results") != before+1 {
		t.Error("404s opened the breaker")
	}
}

// TestRetryDeclared: the results call declares retry in the document; with
// a budget of 100 % each 503 from results is retried once, which the
// backend's count and the metrics show; with -retry-budget 0, never.
func TestRetryDeclared(t *testing.T) {
	for _, tc := range []struct {
		budget config.Ratio
		calls  int64
	}{{1, 2}, {0, 1}} {
		r := config.DefaultResilience()
		r.RetryBudget = tc.budget
		g, f := withFake(t, gatewayOptions{resilience: &r})
		f.Set("results", backendtest.Behaviour{Status: 503})
		const pages = 5
		for range pages {
			g.get(t, "/v2/experiments/42/results")
		}
		if got := f.Calls("results"); got != pages*tc.calls {
			t.Errorf("budget %v: results called %d times for %d pages, want %d", tc.budget, got, pages, pages*tc.calls)
		}
		if tc.budget > 0 && !bytes.Contains(g.admin(t, "/metrics").body, []byte("fanout_retries_total 5")) {
			t.Errorf("/metrics lacks fanout_retries_total 5")
		}
	}
}

// TestShedding: past the overload limit a read is refused at once with 503,
// Retry-After and a problem, while the requests in progress go on.
func TestShedding(t *testing.T) {
	// A cap on requests in progress that binds without saturating the
	// CPUs: the limit stays at it while they are not saturated.
	capped := config.DefaultResilience()
	capped.OverloadMax = 16
	g, f := withFake(t, gatewayOptions{resilience: &capped})
	f.Set("results", backendtest.Behaviour{Delay: 400 * time.Millisecond})
	body := g.admin(t, "/metrics").body
	limit := 0
	for _, line := range bytes.Split(body, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("fanout_overload_limit ")); ok {
			if err := json.Unmarshal(v, &limit); err != nil {
				t.Fatal(err)
			}
		}
	}
	if limit == 0 {
		t.Fatalf("/metrics lacks fanout_overload_limit: overload protection is not on by default")
	}
	g.client.MaxConns = limit + 8
	var wg sync.WaitGroup
	served := make(chan response, limit)
	for range limit {
		wg.Go(func() { served <- g.get(t, "/v2/experiments/42/results") })
	}
	poll.Until(t, 10*time.Second, "the limit reached", func() bool { return g.srv.Metrics().InFlight() >= int64(limit) })
	r := g.get(t, "/v2/experiments/42/results")
	p := checkProblem(t, r, fasthttp.StatusServiceUnavailable)
	if p.Type != problem.TypeOverloaded || r.header.Get("Retry-After") != server.ShedRetryAfter {
		t.Errorf("shed answer %s Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	g.validateResponse(t, fasthttp.MethodGet, "/v2/experiments/42/results", r)
	wg.Wait()
	close(served)
	var fastest time.Duration
	for a := range served {
		if a.status != fasthttp.StatusOK {
			t.Errorf("a request admitted before the limit got %d", a.status)
		}
		if fastest == 0 || a.took < fastest {
			fastest = a.took
		}
	}
	// Refused at once: in well under the time of the fastest served page,
	// which a loaded machine slows as much as the refusal.
	if r.took > fastest/2 {
		t.Errorf("shed answer took %v, the fastest served page %v: want under half", r.took, fastest)
	}
	if !bytes.Contains(g.admin(t, "/metrics").body, []byte(`fanout_requests_shed_total{priority="read"} 1`)) {
		t.Error("/metrics lacks the shed read")
	}
	// -overload off: the same load is never shed.
	off := config.DefaultResilience()
	off.Overload = false
	g2, _ := withFake(t, gatewayOptions{resilience: &off})
	if bytes.Contains(g2.admin(t, "/metrics").body, []byte("fanout_overload_limit")) {
		t.Error("-overload off still has a limit")
	}
}
