package policy

import (
	"fmt"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/breaker"
)

// breakerEntry is the circuit breaker of each call's backend
// (breaker.Set): a policy of every call, with no x-fanout key, on when
// the Breakers setting is.
var breakerEntry = Entry{
	New: func(env *Env) (Build, error) {
		set := env.Breakers
		if set == nil {
			return func(*fanout.CallSpec, string) (fanout.Policy, error) { return nil, nil }, nil
		}
		states := []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open}
		for _, name := range env.Backends {
			label := fmt.Sprintf("backend=%q", name)
			env.Metrics.Gauge("fanout_breaker_state", label, func() float64 { return float64(set.State(name)) })
			env.Metrics.CounterFunc("fanout_breaker_refused_total", label, func() float64 { return float64(set.Refused(name)) })
			for _, from := range states {
				for _, to := range states {
					if from == to {
						continue
					}
					env.Metrics.CounterFunc("fanout_breaker_transitions_total",
						fmt.Sprintf("%s,from=%q,to=%q", label, from, to),
						func() float64 { return float64(set.Transitions(name, from, to)) })
				}
			}
		}
		return func(*fanout.CallSpec, string) (fanout.Policy, error) { return set, nil }, nil
	},
}
