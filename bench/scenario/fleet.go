package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Fleet is the `fleet:` section: instead of one gateway per step, a fleet
// of Replicas gateways behind HAProxy, sharing Redis, as bench/fleet starts
// it, which events restart, kill or deprive of its Redis primary while the
// measured load runs through the balancer.
type Fleet struct {
	// Replicas is the number of gateways (DefaultFleetReplicas if unset).
	Replicas int
	// Sentinel makes Redis a primary, a replica and three sentinels, as a
	// redis_failover event needs.
	Sentinel bool
	// DrainDelay is each replica's -drain-delay (DefaultFleetDrainDelay).
	DrainDelay time.Duration
	// RateLimit, if not nil, drives a token with a known limit above it
	// through the balancer during each measured run.
	RateLimit *FleetRateLimit
	// Idempotency, if not nil, makes the kill event create an experiment
	// with an Idempotency-Key and retry it after the kill.
	Idempotency *FleetIdempotency
}

// FleetRateLimit is a token limited to Limit requests per Per (with the
// gateway's burst of Limit), offered Rate requests a second: what the fleet
// admits of it is the limit_ratio of each phase.
type FleetRateLimit struct {
	Limit int
	Per   time.Duration
	Rate  float64
}

// PerSecond is the limit in requests a second.
func (l FleetRateLimit) PerSecond() float64 { return float64(l.Limit) / l.Per.Seconds() }

// FleetIdempotency is the client of a kill event: it creates an experiment
// with an Idempotency-Key on the replica about to be killed, then, once it
// is killed, sends the same request Retries times through the balancer, as
// a client that never saw the first answer does.
type FleetIdempotency struct {
	Retries int
}

// The actions of an event's `fleet:` key.
const (
	// FleetRollingRestart stops each replica in turn with SIGTERM, waits
	// for it to exit, starts it again and waits until HAProxy counts it
	// up, then goes on to the next.
	FleetRollingRestart = "rolling_restart"
	// FleetKill kills one replica with SIGKILL and starts it again after
	// the event's restart_after.
	FleetKill = "kill"
	// FleetRedisFailover kills the Redis primary with SIGKILL and waits
	// until the sentinels have promoted its replica.
	FleetRedisFailover = "redis_failover"
)

// FleetActions are the known actions, in the order the README lists them.
var FleetActions = []string{FleetRollingRestart, FleetKill, FleetRedisFailover}

// Defaults and bounds of a fleet.
const (
	DefaultFleetReplicas     = 3
	MaxFleetReplicas         = 16
	DefaultFleetDrainDelay   = 2 * time.Second
	DefaultFleetRestartAfter = 5 * time.Second
	DefaultFleetRetries      = 3
	// MinFleetOverdrive is how far above its limit the limited token must
	// be driven: enough that its burst is spent within a second or two and
	// every phase after measures the limit, not the offered rate.
	MinFleetOverdrive = 1.5
)

// FleetMetrics are the metrics of a fleet scenario, beside Metrics: those
// of the limited token per phase, and those of the idempotent client.
var FleetMetrics = map[string]string{
	"limit_ratio":         "the limited token's admitted rate over its limit (fleet.rate_limit): 1 when the fleet shares the limit exactly, the number of replicas when each keeps its own",
	"limit_admitted":      "the limited token's admitted requests per second (fleet.rate_limit)",
	"idempotent_creates":  "experiments the experiments backend was asked to create for the idempotent client's one key (fleet.idempotency)",
	"idempotent_ids":      "distinct experiment ids the idempotent client was answered (fleet.idempotency)",
	"idempotent_failures": "the idempotent client's requests answered otherwise than 2xx, or not at all (fleet.idempotency)",
}

// fleet decodes the fleet section; its problems are recorded.
func (d *decoder) fleet(n *yaml.Node) *Fleet {
	const p = "fleet"
	fl := &Fleet{Replicas: DefaultFleetReplicas, DrainDelay: DefaultFleetDrainDelay}
	f, err := d.Fields(n, p, "replicas", "sentinel", "drain_delay", "rate_limit", "idempotency")
	if !d.OK(err) {
		return fl
	}
	if m := f["replicas"]; m != nil {
		if v, err := d.Int(m, p+".replicas", 1); d.OK(err) {
			if v > MaxFleetReplicas {
				d.OK(d.Errorf(m, p+".replicas", "at most %d, found %d", MaxFleetReplicas, v))
			}
			fl.Replicas = v
		}
	}
	if m := f["sentinel"]; m != nil {
		fl.Sentinel, err = d.switchValue(m, p+".sentinel")
		d.OK(err)
	}
	if m := f["drain_delay"]; m != nil {
		// HAProxy takes a draining replica out on its checks of /readyz,
		// which need time: without a drain delay a rolling restart
		// refuses requests.
		if fl.DrainDelay, err = d.Duration(m, p+".drain_delay"); d.OK(err) && fl.DrainDelay <= 0 {
			d.OK(d.Errorf(m, p+".drain_delay", "must be positive: HAProxy needs time to take a draining replica out"))
		}
	}
	if m := f["rate_limit"]; m != nil {
		fl.RateLimit = d.fleetRateLimit(m, p+".rate_limit")
	}
	if m := f["idempotency"]; m != nil {
		fl.Idempotency = &FleetIdempotency{Retries: DefaultFleetRetries}
		g, err := d.Fields(m, p+".idempotency", "retries")
		if d.OK(err) && g["retries"] != nil {
			fl.Idempotency.Retries, err = d.Int(g["retries"], p+".idempotency.retries", 1)
			d.OK(err)
		}
	}
	return fl
}

// fleetRateLimit decodes the limited token at path p.
func (d *decoder) fleetRateLimit(n *yaml.Node, p string) *FleetRateLimit {
	l := &FleetRateLimit{Per: time.Second}
	f, err := d.Fields(n, p, "limit", "per", "rate")
	if !d.OK(err) {
		return l
	}
	if m := f["limit"]; m == nil {
		d.OK(d.Errorf(n, p+".limit", "required: the token's requests per `per`"))
	} else {
		l.Limit, err = d.Int(m, p+".limit", 1)
		d.OK(err)
	}
	if m := f["per"]; m != nil {
		if l.Per, err = d.Duration(m, p+".per"); d.OK(err) && l.Per <= 0 {
			d.OK(d.Errorf(m, p+".per", "must be positive"))
			l.Per = time.Second
		}
	}
	if m := f["rate"]; m == nil {
		d.OK(d.Errorf(n, p+".rate", "required: the requests a second offered with the token, above its limit"))
	} else if l.Rate, err = d.Positive(m, p+".rate"); d.OK(err) && l.Limit > 0 && l.Rate < MinFleetOverdrive*l.PerSecond() {
		d.OK(d.Errorf(m, p+".rate", "%v is not above the limit of %.4g a second by %vx: a limit is measured by driving the token above it",
			l.Rate, l.PerSecond(), MinFleetOverdrive))
	}
	return l
}

// fleetEvent decodes the fleet keys of the event at path p (fields f) of a
// scenario whose fleet section is fl (nil: none).
func (d *decoder) fleetEvent(it *yaml.Node, f map[string]*yaml.Node, p string, fl *Fleet, e *Event) {
	m := f["fleet"]
	if m == nil {
		for _, k := range []string{"replica", "restart_after"} {
			if f[k] != nil {
				d.OK(d.Errorf(f[k], p+"."+k, "only with fleet: (an action on the fleet)"))
			}
		}
		return
	}
	action, err := d.Str(m, p+".fleet")
	switch {
	case !d.OK(err):
		return
	case fl == nil:
		d.OK(d.Errorf(m, p+".fleet", "needs a fleet section: the scenario runs one gateway, not a fleet"))
		return
	case !slices.Contains(FleetActions, action):
		d.OK(d.Errorf(m, p+".fleet", "unknown action %q (known: %s)", action, strings.Join(FleetActions, ", ")))
		return
	case action == FleetRedisFailover && !fl.Sentinel:
		d.OK(d.Errorf(m, p+".fleet", "redis_failover needs fleet.sentinel: on (a replica to promote)"))
	}
	e.Fleet = action
	if r := f["replica"]; r != nil {
		v, err := d.Int(r, p+".replica", 1)
		switch {
		case !d.OK(err):
		case action != FleetKill:
			d.OK(d.Errorf(r, p+".replica", "only with fleet: kill (a rolling restart takes every replica)"))
		case v > fl.Replicas:
			d.OK(d.Errorf(r, p+".replica", "replica %d of %d", v, fl.Replicas))
		default:
			e.Replica = v
		}
	}
	if action == FleetKill {
		e.RestartAfter = DefaultFleetRestartAfter
		if e.Replica == 0 {
			e.Replica = min(2, fl.Replicas)
		}
	}
	if r := f["restart_after"]; r != nil {
		v, err := d.Duration(r, p+".restart_after")
		switch {
		case !d.OK(err):
		case action != FleetKill:
			d.OK(d.Errorf(r, p+".restart_after", "only with fleet: kill"))
		case v <= 0:
			d.OK(d.Errorf(r, p+".restart_after", "must be positive"))
		default:
			e.RestartAfter = v
		}
	}
}

// checkFleet checks what a fleet scenario s allows: fixed rates, no
// hostile tenant, GET targets only (the expectations speak of failed GETs,
// and the idempotent client counts every create at the backend as its
// own), and at most one Redis failover (after it, Redis has no replica).
func (d *decoder) checkFleet(root *yaml.Node, f map[string]*yaml.Node, s *Scenario) {
	n := f["fleet"]
	if s.Load.Capacity != nil {
		d.OK(d.Errorf(n, "fleet", "not with a capacity search: a fleet runs at fixed rates"))
	}
	if f["hostile"] != nil {
		d.OK(d.Errorf(f["hostile"], "hostile", "not with fleet"))
	}
	for i, t := range s.Targets {
		if t.Method != "GET" {
			d.OK(d.Errorf(f["targets"], fmt.Sprintf("targets[%d].method", i), "a fleet's targets are GETs, found %s: its idempotent client makes the creates", t.Method))
		}
	}
	failovers := 0
	for _, e := range s.Events {
		if e.Fleet == FleetRedisFailover {
			failovers++
		}
	}
	if failovers > 1 {
		d.OK(d.Errorf(f["events"], "events", "%d redis_failover events: after the first, Redis has no replica left to promote", failovers))
	}
	if fl := s.Fleet; fl.Idempotency != nil && !slices.ContainsFunc(s.Events, func(e Event) bool { return e.Fleet == FleetKill }) {
		d.OK(d.Errorf(n, "fleet.idempotency", "needs an event with fleet: kill, which its client retries after"))
	}
}

// checkFleetMetric checks that the fleet metric m has what it measures.
func checkFleetMetric(m string, s *Scenario) error {
	switch {
	case s.Fleet == nil:
		return fmt.Errorf("%s needs a fleet section", m)
	case strings.HasPrefix(m, "limit_") && s.Fleet.RateLimit == nil:
		return fmt.Errorf("%s needs fleet.rate_limit", m)
	case strings.HasPrefix(m, "idempotent_") && s.Fleet.Idempotency == nil:
		return fmt.Errorf("%s needs fleet.idempotency", m)
	}
	return nil
}
