package hardening

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"

	"github.com/valyala/fasthttp"
)

// faultDeadline is the gateway's deadline in these tests: short, so that a
// hanging backend costs little.
const faultDeadline = 300 * time.Millisecond

func none() *model.Latency { l := model.None(); return &l }

func always(f model.Faults) model.Service { return model.Service{Latency: none(), Faults: &f} }

// TestBackendFaults drives every fault model of the mock backends through
// the gateway: each request is answered within the deadline with the
// documented status and a problem naming the failing call (or, for an
// optional call, a partial page naming it), nothing stays in flight at the
// backend, and the goroutines return to their baseline.
func TestBackendFaults(t *testing.T) {
	cases := []struct {
		name    string
		service string
		model   model.Service
		uri     string
		status  int
		typ     string
		call    string // the call the problem names
		missing string // for a 200: the optional call the partial page lists
	}{
		// A required call fails: 502, or 504 when it does not answer.
		{"error, required", "results", always(model.Faults{Error: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		{"hang, required", "results", always(model.Faults{Hang: 1}), "/v2/experiments/42/results", 504, problem.TypeGatewayTimeout, "results", ""},
		{"reset, required", "results", always(model.Faults{Reset: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		{"malformed, required", "results", always(model.Faults{Malformed: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		// The primary call fails: nothing depending on it is sent.
		{"error, primary", "experiments", always(model.Faults{Error: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "experiment", ""},
		{"hang, primary", "experiments", always(model.Faults{Hang: 1}), "/v2/experiments/42/results", 504, problem.TypeGatewayTimeout, "experiment", ""},
		{"reset, primary", "experiments", always(model.Faults{Reset: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "experiment", ""},
		{"malformed, primary", "experiments", always(model.Faults{Malformed: 1}), "/v2/experiments/42/results", 502, problem.TypeBadGateway, "experiment", ""},
		// A plain proxy.
		{"error, proxy", "projects", always(model.Faults{Error: 1}), "/v2/projects/3", 502, problem.TypeBadGateway, "project", ""},
		{"hang, proxy", "projects", always(model.Faults{Hang: 1}), "/v2/projects/3", 504, problem.TypeGatewayTimeout, "project", ""},
		{"reset, proxy", "projects", always(model.Faults{Reset: 1}), "/v2/projects/3", 502, problem.TypeBadGateway, "project", ""},
		{"malformed, proxy", "projects", always(model.Faults{Malformed: 1}), "/v2/projects/3", 502, problem.TypeBadGateway, "project", ""},
		// An optional call fails: the page is partial and says which call.
		{"error, optional", "layers", always(model.Faults{Error: 1}), "/v2/experiments/42/results", 200, "", "", "layer"},
		{"hang, optional", "layers", always(model.Faults{Hang: 1}), "/v2/experiments/42/results", 200, "", "", "layer"},
		{"reset, optional", "projects", always(model.Faults{Reset: 1}), "/v2/experiments/42/results", 200, "", "", "settings"},
		{"malformed, optional", "projects", always(model.Faults{Malformed: 1}), "/v2/experiments/42/results", 200, "", "", "settings"},
	}

	cluster := startCluster(t)
	g := startGateway(t, cluster, gatewayOptions{deadline: faultDeadline})
	client := &fasthttp.HostClient{Addr: g.addr}
	defer client.CloseIdleConnections()
	baseline := warmUp(t, g, client)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := cluster.SetConfig(c.service, c.model); err != nil {
				t.Fatal(err)
			}
			defer cluster.SetConfig(c.service, model.Service{Latency: none()})
			const requests = 3
			for i := 0; i < requests; i++ {
				a := get200(t, client, c.uri)
				if a.took > 3*faultDeadline {
					t.Errorf("answered after %v with a deadline of %v", a.took, faultDeadline)
				}
				if c.status != 200 {
					p := checkProblem(t, a, c.status, c.typ)
					if p.Call != c.call {
						t.Errorf("problem names call %q, want %q: %s", p.Call, c.call, a.body)
					}
					continue
				}
				checkPartial(t, a, c.missing)
			}
			if got := cluster.Stats(c.service).Requests; got < requests {
				t.Errorf("%s received %d requests, want at least %d: the fault was not exercised", c.service, got, requests)
			}
			// The gateway lets go of a failed call: nothing stays in flight at
			// the backend (a hang ends when the gateway closes its connection).
			settleInFlight(t, cluster)
			client.CloseIdleConnections()
			settleGoroutines(t, g, baseline, 2)
		})
		cluster.ResetStats()
	}
}

// TestBackendQueueFull: a backend with one worker and a queue of one
// answers the excess with 503; the gateway maps it to a 502 naming the
// call, serves the rest, and leaks nothing.
func TestBackendQueueFull(t *testing.T) {
	cluster := startCluster(t)
	g := startGateway(t, cluster, gatewayOptions{deadline: faultDeadline})
	client := &fasthttp.HostClient{Addr: g.addr, MaxConns: 16}
	defer client.CloseIdleConnections()
	baseline := warmUp(t, g, client)
	slow, err := model.ParseLatency("fixed:" + (faultDeadline / 3).String())
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.SetConfig("results", model.Service{Latency: &slow, MaxInFlight: 1, QueueLimit: 1}); err != nil {
		t.Fatal(err)
	}
	const requests = 6
	answers := make([]answer, requests)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = get200(t, client, "/v2/experiments/42/results")
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	ok, rejected := 0, 0
	for _, a := range answers {
		if a.took > 3*faultDeadline {
			t.Errorf("answered after %v with a deadline of %v", a.took, faultDeadline)
		}
		switch a.status {
		case 200:
			ok++
		case 502:
			p := checkProblem(t, a, 502, problem.TypeBadGateway)
			if p.Call != "results" || !strings.Contains(p.Detail, "503") {
				t.Errorf("problem %+v, want the results call and its 503", p)
			}
			rejected++
		case 504:
			// Queued behind the one worker past the deadline: a busy machine.
			if p := checkProblem(t, a, 504, problem.TypeGatewayTimeout); p.Call != "results" {
				t.Errorf("problem %+v, want the results call", p)
			}
		default:
			t.Errorf("status %d: %s", a.status, a.body)
		}
	}
	st := cluster.Stats("results")
	if ok == 0 || rejected == 0 || int64(rejected) != st.Errors.Rejected {
		t.Errorf("%d served, %d rejected by the gateway; the backend rejected %d: want some of each, matching", ok, rejected, st.Errors.Rejected)
	}
	settleInFlight(t, cluster)
	settleGoroutines(t, g, baseline, 2)
}

// warmUp makes one request through every backend, so that the clients'
// long-lived goroutines exist, and returns the goroutine baseline.
func warmUp(t testing.TB, g *gateway, client *fasthttp.HostClient) int {
	t.Helper()
	if a := get200(t, client, "/v2/experiments/42/results"); a.status != 200 {
		t.Fatalf("warm-up: status %d: %s", a.status, a.body)
	}
	client.CloseIdleConnections()
	return baselineGoroutines(g)
}

// get200 asks for uri and returns the answer whatever its status; a
// transport error fails the test.
func get200(t testing.TB, client *fasthttp.HostClient, uri string) answer {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://gateway" + uri)
	req.Header.Set("Authorization", assemblytest.Authorization)
	start := time.Now()
	if err := client.DoTimeout(req, resp, 10*faultDeadline); err != nil {
		t.Errorf("GET %s: %v", uri, err)
		return answer{}
	}
	return answer{
		status:      resp.StatusCode(),
		contentType: string(resp.Header.ContentType()),
		body:        append([]byte(nil), resp.Body()...),
		took:        time.Since(start),
	}
}

// checkPartial asserts a 200 results page that is partial for lack of the
// call.
func checkPartial(t testing.TB, a answer, call string) {
	t.Helper()
	var page struct {
		Partial bool `json:"partial"`
		Missing []struct {
			Call string `json:"call"`
		} `json:"missing"`
	}
	if a.status != 200 || json.Unmarshal(a.body, &page) != nil {
		t.Fatalf("status %d, want a 200 page: %.300s", a.status, a.body)
	}
	if !page.Partial || len(page.Missing) != 1 || page.Missing[0].Call != call {
		t.Errorf("want a partial page missing %q: %.300s", call, a.body)
	}
}

// settleInFlight waits until no backend has a request in flight or queued.
// One left in flight is a connection the gateway holds though it gave up
// on the call.
func settleInFlight(t testing.TB, cluster *mock.Cluster) {
	t.Helper()
	poll.Until(t, 5*time.Second, "every backend without a request in flight or queued", func() bool {
		for _, s := range model.Services {
			if st := cluster.Stats(s); st.InFlight+st.Queued > 0 {
				return false
			}
		}
		return true
	})
}
