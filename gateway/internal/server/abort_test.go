package server_test

import (
	"fmt"
	"testing"
	"time"

	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// TestFailedRequiredCallAnswersAtOnce: when the results backend fails fast
// while the experiment is still on its way, the 502 goes out as soon as the
// experiment is in: the layer and settings calls, slow and useless now that
// the request has failed, are never sent, and the mocks are idle when the
// client has its answer.
func TestFailedRequiredCallAnswersAtOnce(t *testing.T) {
	const first, slow = 150 * time.Millisecond, 2 * time.Second
	cfg := latencies(t, map[string]string{
		"experiments": fmt.Sprintf("fixed:%v", first),
		"layers":      fmt.Sprintf("fixed:%v", slow),
		"projects":    fmt.Sprintf("fixed:%v", slow),
		"results":     "none",
	})
	cfg["results"] = model.Service{Latency: cfg["results"].Latency, Faults: &model.Faults{Error: 1}}
	c := startMocks(t, mock.Options{Config: cfg})
	g := startGateway(t, gatewayOptions{backends: mockAddrs(c)})
	// The layer and settings calls wait at most 1 s (their timeout in the
	// document), so before the fix the 502 took first + 1 s.
	const callTimeout = time.Second
	r := g.get(t, "/v2/experiments/42/results")
	if p := checkProblem(t, r, 502); p.Call != "results" {
		t.Errorf("the problem names %q, want the failed call results: %s", p.Call, r.body)
	}
	busy := inFlight(c)
	t.Logf("502 after %v (experiment %v, slow calls %v, their timeout %v); mocks in flight then: %d", r.took, first, slow, callTimeout, busy)
	if r.took > first+callTimeout/2 {
		t.Errorf("the 502 took %v, want it soon after the experiment's %v, not after the slow calls (%v timeout)", r.took, first, callTimeout)
	}
	waitFor(t, callTimeout/2, func() bool { return inFlight(c) == 0 }, "the mocks to be idle after the 502")
	for _, s := range []string{"layers", "projects"} {
		if got := c.Stats(s).Requests; got != 0 {
			t.Errorf("%s received %d requests after results failed, want 0", s, got)
		}
	}
}

// latencies builds a mock configuration from service -> latency model.
func latencies(t *testing.T, models map[string]string) model.Config {
	t.Helper()
	cfg := model.Config{}
	for service, m := range models {
		l, err := model.ParseLatency(m)
		if err != nil {
			t.Fatal(err)
		}
		cfg[service] = model.Service{Latency: &l}
	}
	return cfg
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(timeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// inFlight sums the mocks' requests in flight.
func inFlight(c *mock.Cluster) int64 {
	var n int64
	for _, s := range []string{"experiments", "layers", "projects", "results"} {
		n += c.Stats(s).InFlight
	}
	return n
}
