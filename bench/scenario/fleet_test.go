package scenario

import (
	"strings"
	"testing"
	"time"
)

// fleetOK is a sound fleet scenario, which each row below breaks in one
// place.
const fleetOK = `targets: [{path: "/v2/experiments/{id}/results", ids: 1-10}]
load: {rates: [10], duration: 20s}
fleet: {sentinel: on, rate_limit: {limit: 10, rate: 20}, idempotency: {}}
events:
  - {at: 2s, name: rolling, fleet: rolling_restart}
  - {at: 10s, name: kill, fleet: kill}
  - {at: 15s, name: failover, fleet: redis_failover}
`

// TestDecodeFleet: a fleet section and its events decode with their
// defaults, and the fleet metrics name phases like the others.
func TestDecodeFleet(t *testing.T) {
	s, err := Decode(strings.NewReader(fleetOK+"expect: [concurrent.kill.idempotent_creates == 1, concurrent.rolling.limit_ratio <= 1.1]\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fl := s.Fleet
	if fl == nil || fl.Replicas != DefaultFleetReplicas || fl.DrainDelay != DefaultFleetDrainDelay || !fl.Sentinel ||
		fl.RateLimit == nil || fl.RateLimit.Per != time.Second || fl.RateLimit.PerSecond() != 10 ||
		fl.Idempotency == nil || fl.Idempotency.Retries != DefaultFleetRetries {
		t.Fatalf("fleet %+v (rate limit %+v, idempotency %+v)", fl, fl.RateLimit, fl.Idempotency)
	}
	e := s.Events
	if len(e) != 3 || e[0].Fleet != FleetRollingRestart || e[1].Fleet != FleetKill || e[1].Replica != 2 ||
		e[1].RestartAfter != DefaultFleetRestartAfter || e[2].Fleet != FleetRedisFailover || e[2].Replica != 0 {
		t.Fatalf("events %+v", e)
	}
	if len(s.Expect) != 2 {
		t.Fatalf("expectations %v", s.Expect)
	}
}

// TestDecodeFleetErrors: each broken fleet section or fleet event is
// refused with the field and the reason, as `bench -check` prints them.
func TestDecodeFleetErrors(t *testing.T) {
	sound := strings.Replace(fleetOK, "fleet: {", "fleet: {replicas: 3, ", 1)
	tests := []struct {
		name, src, want string
	}{
		{"unknown key", strings.Replace(sound, "sentinel: on", "sentinels: on", 1), "fleet.sentinels: unknown field"},
		{"no replicas", strings.Replace(sound, "replicas: 3", "replicas: 0", 1), "fleet.replicas: must be at least 1"},
		{"too many replicas", strings.Replace(sound, "replicas: 3", "replicas: 99", 1), "fleet.replicas: at most 16"},
		{"no drain", strings.Replace(sound, "replicas: 3", "replicas: 3, drain_delay: 0s", 1), "fleet.drain_delay: must be positive"},
		{"rate at the limit", strings.Replace(sound, "rate: 20", "rate: 10", 1), "fleet.rate_limit.rate: 10 is not above the limit of 10 a second by 1.5x"},
		{"limit without rate", strings.Replace(sound, ", rate: 20", "", 1), "fleet.rate_limit.rate: required"},
		{"failover without sentinel", strings.Replace(sound, "sentinel: on", "sentinel: off", 1), "events[2].fleet: redis_failover needs fleet.sentinel: on"},
		{"unknown action", strings.Replace(sound, "fleet: kill}", "fleet: reboot}", 1), `events[1].fleet: unknown action "reboot" (known: rolling_restart, kill, redis_failover)`},
		{"replica out of the fleet", strings.Replace(sound, "fleet: kill}", "fleet: kill, replica: 4}", 1), "events[1].replica: replica 4 of 3"},
		{"replica of a rolling restart", strings.Replace(sound, "fleet: rolling_restart}", "fleet: rolling_restart, replica: 1}", 1), "events[0].replica: only with fleet: kill"},
		{"restart_after without kill", strings.Replace(sound, "fleet: redis_failover}", "fleet: redis_failover, restart_after: 1s}", 1), "events[2].restart_after: only with fleet: kill"},
		{"two failovers", sound + "  - {at: 18s, name: again, fleet: redis_failover}\n", "events: 2 redis_failover events"},
		{"idempotency without kill", strings.Replace(sound, "fleet: kill}", "rate: 5}", 1), "fleet.idempotency: needs an event with fleet: kill"},
		{"a POST target", strings.Replace(sound, `ids: 1-10}`, `ids: 1-10}, {method: POST, path: /v2/experiments, body: "{}"}`, 1), "targets[1].method: a fleet's targets are GETs"},
		{"fleet event without a fleet", "targets: [{path: /x}]\nload: {rates: [1], duration: 5s}\nevents: [{at: 1s, fleet: kill}]\n", "events[0].fleet: needs a fleet section"},
		{"fleet metric without a fleet", "targets: [{path: /x}]\nload: {rates: [1]}\nexpect: [concurrent.limit_ratio <= 1]\n", "limit_ratio needs a fleet section"},
		{"limit metric without a rate limit", strings.Replace(sound, "rate_limit: {limit: 10, rate: 20}, ", "", 1) + "expect: [concurrent.before.limit_ratio <= 1]\n", "limit_ratio needs fleet.rate_limit"},
		{"fleet with capacity", strings.Replace(sound, "load: {rates: [10], duration: 20s}", "load: {capacity: {p99: 1s}}", 1), "events: not supported with a capacity search"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.src), "file.yaml")
			if err == nil {
				t.Fatalf("decoded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(strings.NewReader(sound), "file.yaml"); err != nil {
		t.Fatalf("the sound scenario of the rows: %v", err)
	}
}
