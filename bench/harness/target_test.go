package harness

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fanout/bench/launch"
	"fanout/bench/scenario"
	"fanout/mockbackends/model"
)

// deployment is a gateway and its mocks that the test starts, as a
// deployment the bench did not start would be; without shedding, which on
// a busy machine would refuse a varying share of the requests.
type deployment struct {
	gateway string            // root URL
	admin   map[string]string // each mock's address
}

func startDeployment(t *testing.T) deployment {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	bins, err := launch.Binaries{}.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := launch.StartMocks(ctx, bins.Mocks, []string{"-log-level", "error"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(launch.DefaultGrace) })
	gw, err := launch.StartGateway(ctx, bins.Gateway, launch.Gateway{Mode: "concurrent", Args: []string{"-log-level", "error", "-overload", "off"}}, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Stop(launch.DefaultGrace) })
	d := deployment{gateway: "http://" + gw.Addr("gateway"), admin: map[string]string{}}
	for _, svc := range model.Services {
		d.admin[svc] = m.Addr(svc)
	}
	return d
}

// nothing are binaries that do not exist: a harness that tried to start
// a process would fail.
var nothing = launch.Binaries{Gateway: "/nonexistent/gateway", Mocks: "/nonexistent/mockbackends"}

// deploymentScenario is a scenario with an event: at 1 s the results
// backend slows from 40 to 120 ms.
func deploymentScenario(t *testing.T) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [concurrent]}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 0s, duration: 2s, rates: [50]}
events:
  - {at: 1s, name: slow, service: results, set: {latency: fixed:120ms}}
expect:
  - concurrent.complete >= 99%
  - concurrent.slow.p50 >= 100
`), "deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "deployment"
	return s
}

func TestRunAgainstARunningGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the mock backends")
	}
	d := startDeployment(t)
	// At 1 s the results backend slows from 40 to 120 ms: the event must
	// reach the running mocks through their admin API.
	s := deploymentScenario(t)

	for _, tc := range []struct {
		name   string
		admin  map[string]string
		limits bool
	}{
		{"with the mocks' admin", d.admin, true},
		{"without", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := *s
			if tc.admin == nil {
				sc.Events, sc.Expect = nil, sc.Expect[:1]
			}
			opts := Options{Out: t.TempDir(), Logs: io.Discard, Bins: nothing,
				Target: d.gateway, Authorization: launch.Authorization, MockAdmin: tc.admin}
			if err := CheckTarget(&sc, opts); err != nil {
				t.Fatal(err)
			}
			outs, err := Run(context.Background(), []*scenario.Scenario{&sc}, opts)
			if err != nil {
				t.Fatal(err)
			}
			res := outs[0].Result
			if len(res.Runs) != 1 || res.Runs[0].Requests < 90 || res.Target != d.gateway {
				t.Fatalf("runs %+v against %q, want one of about 100 requests against %s", res.Runs, res.Target, d.gateway)
			}
			run := res.Runs[0]
			if run.Complete < 0.99 || run.CPU != 0 || run.PeakRSS != 0 {
				t.Errorf("complete %.3f, gateway CPU %v, RSS %d: want every page, and no figures of a process bench did not start", run.Complete, run.CPU, run.PeakRSS)
			}
			if f := res.Failed(); len(f) > 0 {
				t.Errorf("failed: %+v", f)
			}
			if got := res.Limits != nil; got != tc.limits {
				t.Errorf("limits known %v, want %v (note %q)", got, tc.limits, res.LimitsNote)
			}
			if !tc.limits && !strings.Contains(res.LimitsNote, "No limits are known") {
				t.Errorf("limits note %q", res.LimitsNote)
			}
			if tc.limits && (run.CallsPerRequest < 3.9 || run.PhaseBackendCalls["slow"]["results"] == 0) {
				t.Errorf("calls per request %.2f, by phase %v: want the running mocks' counts", run.CallsPerRequest, run.PhaseBackendCalls)
			}
			if env, err := os.ReadFile(filepath.Join(outs[0].Dir, "env.json")); err != nil || !strings.Contains(string(env), "runs elsewhere") {
				t.Errorf("env.json (%v) does not say that the gateway runs elsewhere:\n%s", err, env)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	s := deploymentScenario(t)
	for _, tc := range []struct {
		name  string
		admin map[string]string
		want  string // in the error; "" for none
	}{
		// An event on a backend bench cannot reach cannot play.
		{"no admin", nil, "event slow changes results: give its mock's admin address (-mock-admin results=http://HOST:PORT)"},
		{"admin of the backend", map[string]string{"results": "127.0.0.1:1"}, ""},
		// A name that is no backend is a mistake, named.
		{"unknown backend", map[string]string{"results": "127.0.0.1:1", "result": "127.0.0.1:2"}, `-mock-admin names "result", which is no backend`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(s, Options{Target: "http://gw:8080", MockAdmin: tc.admin})
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckTarget: %v, want %q", err, tc.want)
			}
		})
	}
	if err := CheckTarget(s, Options{}); err != nil {
		t.Errorf("without a target: %v", err)
	}
	// A cost scenario measures gateways bench starts.
	cost, err := scenario.LoadFile("../../scenarios/cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTarget(cost, Options{Target: "http://gw:8080"}); err == nil || !strings.Contains(err.Error(), "a cost scenario measures the CPU of gateways bench starts") {
		t.Errorf("a cost scenario against a target: %v", err)
	}
	// A fleet scenario plays with a fleet of its own.
	fleet, err := scenario.LoadFile("../../scenarios/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTarget(fleet, Options{Target: "http://gw:8080"}); err == nil || !strings.Contains(err.Error(), "a fleet scenario starts, restarts and kills a fleet of its own") {
		t.Errorf("a fleet scenario against a target: %v", err)
	}
}
