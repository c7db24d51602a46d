package server_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/fanout"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// startMocks runs the mock backends in process until the test ends, as
// every gateway test starts them.
func startMocks(t *testing.T, opts mock.Options) *mock.Cluster {
	t.Helper()
	return assemblytest.Cluster(t, opts)
}

// TestContractWithMocks: the gateway's responses built from the mock
// backends' data match the document.
func TestContractWithMocks(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	checkContract(t, g)
	// Unknown ids are the client's 404.
	checkProblem(t, g.get(t, "/v2/experiments/999999/results"), 404)
	checkProblem(t, g.get(t, "/v2/projects/999999"), 404)

	// Pages of other experiments, whatever their data, match too.
	for _, id := range []string{"1", "137", "500", "999", "1000"} {
		uri := "/v2/experiments/" + id + "/results"
		r := g.get(t, uri)
		if r.status != 200 {
			t.Errorf("%s: status %d: %s", uri, r.status, r.body)
		}
		g.validateResponse(t, "GET", uri, r)
	}

	// The mocks' faults: an optional call failing leaves a partial page,
	// a required one a 502 naming it.
	none := model.Latency{Kind: "none"}
	for _, c2 := range []struct {
		service string
		faults  model.Faults
		status  int
		call    string
	}{
		{"layers", model.Faults{Error: 1}, 200, "layer"},
		{"projects", model.Faults{Reset: 1}, 200, "settings"},
		{"results", model.Faults{Malformed: 1}, 502, "results"},
		{"results", model.Faults{Reset: 1}, 502, "results"},
		{"experiments", model.Faults{Error: 1}, 502, "experiment"},
	} {
		if err := c.SetConfig(c2.service, model.Service{Latency: &none, Faults: &c2.faults}); err != nil {
			t.Fatal(err)
		}
		uri := "/v2/experiments/42/results"
		r := g.get(t, uri)
		g.validateResponse(t, "GET", uri, r)
		if c2.status != 200 {
			if p := checkProblem(t, r, c2.status); p.Call != c2.call {
				t.Errorf("%s %+v: problem names %q, want %q", c2.service, c2.faults, p.Call, c2.call)
			}
		} else if !strings.Contains(string(r.body), `"partial":true,"missing":[{"call":"`+c2.call+`"`) {
			t.Errorf("%s %+v: not a partial page missing %s: %s", c2.service, c2.faults, c2.call, r.body)
		}
		if err := c.SetConfig(c2.service, model.Service{Latency: &none}); err != nil {
			t.Fatal(err)
		}
	}
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

// span is one call's interval in a Server-Timing header, in ms from the
// request's start.
type span struct{ start, end float64 }

// timings parses a Server-Timing header into the calls' spans.
func timings(t *testing.T, header string) map[string]span {
	t.Helper()
	m := map[string]span{}
	for _, e := range strings.Split(header, ", ") {
		parts := strings.Split(e, ";")
		if parts[0] == "total" {
			continue
		}
		var sp span
		var dur float64
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(p, "=")
			if k != "dur" && k != "start" {
				continue // desc="hedge" and the like
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("Server-Timing %q: %v", header, err)
			}
			switch k {
			case "dur":
				dur = f
			case "start":
				sp.start = f
			}
		}
		sp.end = sp.start + dur
		m[parts[0]] = sp
	}
	return m
}

// overlap reports whether two spans share more than a tenth of a
// millisecond (the header's rounding).
func overlap(a, b span) bool { return a.start < b.end-0.1 && b.start < a.end-0.1 }

// serial reports whether no two spans overlap.
func serial(spans map[string]span) bool {
	for a, x := range spans {
		for b, y := range spans {
			if a < b && overlap(x, y) {
				return false
			}
		}
	}
	return true
}

// page requests the results page n times and returns the fastest time and
// the calls' spans of that request. The minimum is the figure least
// disturbed by a busy machine.
func page(t *testing.T, g *gateway, n int) (time.Duration, map[string]span) {
	var best time.Duration
	var spans map[string]span
	for range n {
		r := g.get(t, "/v2/experiments/42/results")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if best == 0 || r.took < best {
			best, spans = r.took, timings(t, r.header.Get("Server-Timing"))
		}
	}
	return best, spans
}

// TestStrategies: sequential costs the sum, staged the levels, concurrent
// the critical path; a pool of one serialises the calls. The order of the
// calls, read from Server-Timing, shows each strategy whatever the load of
// the machine; the times show what it costs.
func TestStrategies(t *testing.T) {
	c := startMocks(t, mock.Options{Config: fixedLatencies(t)})
	took := map[string]time.Duration{}
	for _, mode := range []string{fanout.ModeSequential, fanout.ModeStaged, fanout.ModeConcurrent, fanout.ModePool} {
		g := startGateway(t, gatewayOptions{backends: c.Addrs(), mode: mode, poolSize: 1})
		g.get(t, "/v2/experiments/42/results") // connections
		d, sp := page(t, g, 3)
		took[mode] = d
		switch mode {
		case fanout.ModeSequential, fanout.ModePool:
			if !serial(sp) {
				t.Errorf("%s: calls overlap: %v", mode, sp)
			}
		case fanout.ModeStaged:
			// The second level waits for the whole first, results included.
			if sp["layer"].start < sp["results"].end-0.1 || sp["settings"].start < sp["results"].end-0.1 {
				t.Errorf("staged: the second level did not wait for results: %v", sp)
			}
		case fanout.ModeConcurrent:
			// Results runs beside the experiment, the layer as soon as the
			// experiment is in, without waiting for results.
			if !overlap(sp["results"], sp["experiment"]) || sp["layer"].start > sp["results"].end {
				t.Errorf("concurrent: calls not overlapped: %v", sp)
			}
		}
	}
	t.Logf("results page: %v", took)
	seq, staged, conc, pool1 := took[fanout.ModeSequential], took[fanout.ModeStaged], took[fanout.ModeConcurrent], took[fanout.ModePool]
	// 85 / 60 = 1.42 and 60 / 40 = 1.5; ask for less.
	if float64(seq) < 1.15*float64(staged) {
		t.Errorf("sequential %v is not clearly slower than staged %v", seq, staged)
	}
	if float64(staged) < 1.15*float64(conc) {
		t.Errorf("staged %v is not clearly slower than concurrent %v", staged, conc)
	}
	// One worker runs one call at a time: the sum, 85 ms against 40.
	if float64(pool1) < 1.5*float64(conc) {
		t.Errorf("pool of 1 %v does not serialise (concurrent %v)", pool1, conc)
	}
}

// TestBlockingSerialisesRequests: with one process-wide lock around every
// backend call, the calls of two public requests made at once never
// overlap, so the pair takes at least the sum of all their calls; in
// concurrent mode the pair takes far less than that sum.
func TestBlockingSerialisesRequests(t *testing.T) {
	c := startMocks(t, mock.Options{Config: fixedLatencies(t)})
	// pair sends two requests at once and returns the wall time and the sum
	// of their calls' durations.
	pair := func(g *gateway) (wall, calls time.Duration) {
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 2 {
			wg.Go(func() {
				r := g.get(t, "/v2/experiments/42/results")
				if r.status != 200 {
					t.Errorf("status %d", r.status)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, sp := range timings(t, r.header.Get("Server-Timing")) {
					calls += time.Duration((sp.end - sp.start) * float64(time.Millisecond))
				}
			})
		}
		wg.Wait()
		return time.Since(start), calls
	}
	blocking := startGateway(t, gatewayOptions{backends: c.Addrs(), mode: fanout.ModeBlocking})
	concurrent := startGateway(t, gatewayOptions{backends: c.Addrs(), mode: fanout.ModeConcurrent})
	pair(blocking) // connections
	pair(concurrent)
	wall, calls := pair(blocking)
	cwall, ccalls := pair(concurrent)
	t.Logf("blocking: pair %v, calls %v; concurrent: pair %v, calls %v", wall, calls, cwall, ccalls)
	if float64(wall) < 0.95*float64(calls) {
		t.Errorf("blocking: the pair took %v, less than its calls' %v: calls overlapped", wall, calls)
	}
	if float64(cwall) > 0.8*float64(ccalls) {
		t.Errorf("concurrent: the pair took %v, near its calls' %v: calls did not overlap", cwall, ccalls)
	}
}
