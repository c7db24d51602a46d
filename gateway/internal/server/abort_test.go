package server_test

import (
	"fmt"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
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
	// The layer and settings calls wait at most optionalCallTimeout, so
	// before the fix the 502 took first + optionalCallTimeout.
	c, r := failedResults(t, cfg)
	busy := inFlight(c)
	t.Logf("502 after %v (experiment %v, slow calls %v, their timeout %v); mocks in flight then: %d", r.took, first, slow, optionalCallTimeout, busy)
	if r.took > first+optionalCallTimeout/2 {
		t.Errorf("the 502 took %v, want it soon after the experiment's %v, not after the slow calls (%v timeout)", r.took, first, optionalCallTimeout)
	}
	poll.Until(t, optionalCallTimeout/2, "the mocks to be idle after the 502", func() bool { return inFlight(c) == 0 })
	for _, s := range []string{"layers", "projects"} {
		if got := c.Stats(s).Requests; got != 0 {
			t.Errorf("%s received %d requests after results failed, want 0", s, got)
		}
	}
}

// optionalCallTimeout is the timeout of the layer and settings calls in the
// document.
const optionalCallTimeout = time.Second

// failedResults runs the mocks with cfg, whose results backend fails, and
// a gateway in front of them, asks for a results page and checks that the
// answer is the 502 that names the results call.
func failedResults(t *testing.T, cfg model.Config) (*mock.Cluster, response) {
	t.Helper()
	c := startMocks(t, mock.Options{Config: cfg})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	r := g.get(t, "/v2/experiments/42/results")
	if p := checkProblem(t, r, 502); p.Call != "results" {
		t.Errorf("the problem names %q, want the failed call results: %s", p.Call, r.body)
	}
	return c, r
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

// inFlight sums the mocks' requests in flight.
func inFlight(c *mock.Cluster) int64 {
	var n int64
	for _, s := range []string{"experiments", "layers", "projects", "results"} {
		n += c.Stats(s).InFlight
	}
	return n
}
