package harness

import (
	"context"
	"strings"
	"testing"
	"time"

	"fanout/bench/fleet"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// shortFleet is a fleet scenario shortened for a test: two replicas, each
// event's window just long enough for its action, lower rates. Its
// bounds are looser than scenarios/fleet.yaml's, and shedding is off: a
// test shares the machine with other packages' tests, and what it proves
// is that the phases are judged. The last bound no run can meet.
const shortFleet = `
gateway: {modes: [concurrent], overload: off}
fleet:
  replicas: 2
  sentinel: on
  drain_delay: 1s
  rate_limit: {limit: 20, per: 1s, rate: 40}
  idempotency: {retries: 2}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 500ms, duration: 19s, rates: [50]}
events:
  - {at: 2s, name: rolling, fleet: rolling_restart}
  - {at: 11s, name: kill, fleet: kill, replica: 2, restart_after: 1s}
  - {at: 16s, name: failover, fleet: redis_failover}
expect:
  - concurrent.rolling.failed <= 1%
  - concurrent.kill.failed <= 2%
  - concurrent.before.limit_ratio >= 0.8
  - concurrent.rolling.limit_ratio <= 1.2
  - concurrent.kill.idempotent_creates == 1
  - concurrent.kill.idempotent_ids == 1
  - concurrent.rolling.requests < 0
`

// TestFleetScenario runs a shortened fleet scenario end to end on real
// haproxy, redis-server and redis-sentinel: every action plays within its
// phase (both replicas restarted, one killed and started again, the Redis
// primary failed over), the expectations are judged on the phases'
// figures and hold on a healthy fleet, and an impossible bound fails.
func TestFleetScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis with Sentinel, HAProxy, the mock backends and two gateways")
	}
	for _, name := range []string{"haproxy", "redis-server", "redis-sentinel"} {
		if _, err := fleet.Binary(name); err != nil {
			t.Skip(err)
		}
	}
	s, err := scenario.Decode(strings.NewReader(shortFleet), "short-fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress strings.Builder
	outs, err := Run(ctx, []*scenario.Scenario{s}, Options{Out: t.TempDir(), Progress: &progress, Seed: 1})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	res := outs[0].Result
	t.Logf("progress:\n%s", progress.String())
	if len(res.Errors) > 0 {
		t.Errorf("errors: %q", res.Errors)
	}
	if len(res.Runs) != 1 || res.Runs[0].Fleet == nil {
		t.Fatalf("runs %+v, want one with its fleet", res.Runs)
	}
	run := res.Runs[0]
	// The replicas' CPU, restarted ones included, and the backends' calls
	// are counted, as for one gateway.
	if run.CPUPerRequest <= 0 || run.CallsPerRequest < 1 {
		t.Errorf("cpu per request %v, calls per request %v, want both counted", run.CPUPerRequest, run.CallsPerRequest)
	}
	fl := run.Fleet
	var actions []string
	for _, a := range fl.Actions {
		actions = append(actions, a.Phase+":"+a.Action)
		if a.Error != "" || a.Overran {
			t.Errorf("%s %s: error %q, overran %v (took %v from %v)", a.Phase, a.Action, a.Error, a.Overran, a.Took, a.Start)
		}
	}
	if got, want := strings.Join(actions, " "), "rolling:rolling_restart kill:kill failover:redis_failover"; got != want {
		t.Errorf("actions %q, want %q", got, want)
	}
	if len(fl.Actions) > 0 {
		if got := strings.Join(fl.Actions[0].Steps, ", "); strings.Count(got, " up at ") != 2 {
			t.Errorf("rolling restart: %s, want both replicas up again", got)
		}
	}
	verdicts := map[string]result.Expectation{}
	for _, e := range res.Expectations {
		verdicts[e.Source] = e
	}
	for _, e := range s.Expect {
		got, ok := verdicts[e.Source]
		wantPass := e.Source != "concurrent.rolling.requests < 0"
		switch {
		case !ok:
			t.Errorf("%s: not judged", e.Source)
		case wantPass && !got.Pass:
			t.Errorf("%s: %s %s, want it to hold", e.Source, got.Verdict, got.Detail)
		case !wantPass && (got.Pass || got.Verdict != result.Fails):
			t.Errorf("%s: %s %s, want it to fail", e.Source, got.Verdict, got.Detail)
		}
	}
}
