package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"fanout/bench/result"
)

// TestPolicies reads the gateway's resilience series, labels and all, and
// nothing else of its /metrics.
func TestPolicies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`go_goroutines 12
fanout_overload_limit 37
fanout_requests_shed_total{priority="read"} 55
fanout_breaker_transitions_total{backend="results",from="closed",to="open"} 1
fanout_retries_total 3
fanout_request_duration_seconds_count{route="x"} 9
`))
	}))
	defer srv.Close()
	got := resilienceFigures(context.Background(), srv.URL)
	want := map[string]float64{
		"fanout_overload_limit":                                                       37,
		`fanout_requests_shed_total{priority="read"}`:                                 55,
		`fanout_breaker_transitions_total{backend="results",from="closed",to="open"}`: 1,
		"fanout_retries_total":                                                        3,
	}
	if len(got) != len(want) {
		t.Errorf("policies %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestCallsPerSecond: the backend calls of a phase, per second of its
// window; of the whole run without a phase.
func TestCallsPerSecond(t *testing.T) {
	run := &result.Run{
		BackendCalls:      map[string]int64{"results": 400},
		PhaseBackendCalls: map[string]map[string]int64{"open": {"results": 9}},
	}
	if v, ok := callsPerSecond(run, "open", "results", 9*time.Second); !ok || v != 1 {
		t.Errorf("open: %v %v, want 1", v, ok)
	}
	if v, ok := callsPerSecond(run, "", "results", 20*time.Second); !ok || v != 20 {
		t.Errorf("run: %v %v, want 20", v, ok)
	}
	if _, ok := callsPerSecond(run, "before", "results", time.Second); ok {
		t.Error("a phase without counts gave a figure")
	}
}
