package server_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// startMocks runs the mock backends in process until the test ends.
func startMocks(t *testing.T, opts mock.Options) *mock.Cluster {
	t.Helper()
	c, err := mock.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mockAddrs(c *mock.Cluster) map[string]string {
	m := map[string]string{}
	for _, s := range []string{"experiments", "layers", "projects", "results"} {
		m[s] = c.Addr(s)
	}
	return m
}

// TestContractWithMocks: the gateway's responses built from the mock
// backends' data match the document.
func TestContractWithMocks(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: mockAddrs(c)})
	checkContract(t, g)
	// Unknown ids are the client's 404.
	checkProblem(t, g.get(t, "/v2/experiments/999999/results"), 404)
	checkProblem(t, g.get(t, "/v2/projects/999999"), 404)
}

// fixedLatencies are the talk's backends: experiments 20 ms, layers 15,
// projects 10, results 40. The results page then costs 85 ms in
// sequence, 60 by levels (20, then max(15, 10, 40)) and 40 on the
// critical path.
func fixedLatencies(t *testing.T) model.Config {
	cfg := model.Config{}
	for service, d := range map[string]string{"experiments": "fixed:20ms", "layers": "fixed:15ms", "projects": "fixed:10ms", "results": "fixed:40ms"} {
		l, err := model.ParseLatency(d)
		if err != nil {
			t.Fatal(err)
		}
		cfg[service] = model.Service{Latency: &l}
	}
	return cfg
}

// fastest returns the shortest of n sequential results-page requests: the
// minimum is the figure least disturbed by a busy machine.
func fastest(t *testing.T, g *gateway, n int) time.Duration {
	var ds []time.Duration
	for range n {
		r := g.get(t, "/v2/experiments/42/results")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		ds = append(ds, r.took)
	}
	return slices.Min(ds)
}

// TestStrategies: sequential costs the sum, staged the levels, concurrent
// the critical path; a pool of one serialises the calls.
func TestStrategies(t *testing.T) {
	c := startMocks(t, mock.Options{Config: fixedLatencies(t)})
	took := map[string]time.Duration{}
	for _, mode := range []string{fanout.ModeSequential, fanout.ModeStaged, fanout.ModeConcurrent, fanout.ModePool} {
		g := startGateway(t, gatewayOptions{backends: mockAddrs(c), mode: mode, poolSize: 1})
		g.get(t, "/v2/experiments/42/results") // connections
		took[mode] = fastest(t, g, 3)
	}
	t.Logf("results page: %v", took)
	seq, staged, conc, pool1 := took[fanout.ModeSequential], took[fanout.ModeStaged], took[fanout.ModeConcurrent], took[fanout.ModePool]
	// 85 / 60 = 1.42 and 60 / 40 = 1.5; ask for less.
	if float64(seq) < 1.2*float64(staged) {
		t.Errorf("sequential %v is not clearly slower than staged %v", seq, staged)
	}
	if float64(staged) < 1.25*float64(conc) {
		t.Errorf("staged %v is not clearly slower than concurrent %v", staged, conc)
	}
	// The critical path is 40 ms: concurrent must not be far above it.
	if conc > 40*time.Millisecond*3/2 {
		t.Errorf("concurrent %v is far above the 40 ms critical path", conc)
	}
	// One worker runs one call at a time: the sum, 85 ms.
	if float64(pool1) < 1.6*float64(conc) {
		t.Errorf("pool of 1 %v does not serialise (concurrent %v)", pool1, conc)
	}
}

// TestBlockingSerialisesRequests: with one process-wide lock around every
// backend call, two public requests at once take about twice as long as
// one, while concurrent mode serves both in the time of one.
func TestBlockingSerialisesRequests(t *testing.T) {
	c := startMocks(t, mock.Options{Config: fixedLatencies(t)})
	pair := func(g *gateway) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if r := g.get(t, "/v2/experiments/42/results"); r.status != 200 {
					t.Errorf("status %d", r.status)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	blocking := startGateway(t, gatewayOptions{backends: mockAddrs(c), mode: fanout.ModeBlocking})
	concurrent := startGateway(t, gatewayOptions{backends: mockAddrs(c), mode: fanout.ModeConcurrent})
	pair(blocking)
	pair(concurrent)
	one := fastest(t, blocking, 2)
	two := pair(blocking)
	twoConc := pair(concurrent)
	t.Logf("blocking: one %v, two at once %v; concurrent: two at once %v", one, two, twoConc)
	if float64(two) < 1.6*float64(one) {
		t.Errorf("blocking: two requests at once took %v, one %v: not serialised", two, one)
	}
	if float64(two) < 2*float64(twoConc) {
		t.Errorf("blocking pair %v not clearly slower than concurrent pair %v", two, twoConc)
	}
}
