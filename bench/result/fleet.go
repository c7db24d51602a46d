package result

import "time"

// Fleet is what a step of a fleet scenario did to its fleet and what the
// fleet's shared state showed: the actions of its events, the limited
// token's admissions per phase, and the idempotent client's creates.
type Fleet struct {
	Replicas int  `json:"replicas"`
	Sentinel bool `json:"sentinel,omitempty"`
	// Actions are the events' actions, in order.
	Actions []FleetAction `json:"actions,omitempty"`
	// Limit is the limited token's limit in requests a second, and Limited
	// what was offered and admitted of it per phase (by phase name).
	Limit   float64                 `json:"limit,omitempty"`
	Limited map[string]FleetLimited `json:"limited,omitempty"`
	// Idempotency is the idempotent client's, if the scenario has one.
	Idempotency *FleetIdempotency `json:"idempotency,omitempty"`
}

// FleetAction is one event's action on the fleet.
type FleetAction struct {
	Phase  string `json:"phase"`
	Action string `json:"action"`
	// Start is its offset into the measured attack, Took how long it ran.
	Start time.Duration `json:"start"`
	Took  time.Duration `json:"took"`
	// Steps say what it did, with the time of each ("gw1 stopped after
	// 2.1s").
	Steps []string `json:"steps,omitempty"`
	// Error is why it could not finish ("" if it did).
	Error string `json:"error,omitempty"`
	// Overran is true when it ran past the start of the next phase (or
	// the end of the attack), whose figures it then touched too.
	Overran bool `json:"overran,omitempty"`
}

// FleetLimited is the limited token's load over one phase.
type FleetLimited struct {
	Requests int           `json:"requests"`
	Admitted int           `json:"admitted"`
	Window   time.Duration `json:"window"`
}

// AdmittedRate is the admitted requests per second of the window.
func (l FleetLimited) AdmittedRate() float64 {
	if l.Window <= 0 {
		return 0
	}
	return float64(l.Admitted) / l.Window.Seconds()
}

// FleetIdempotency is the idempotent client of a kill: one create on the
// replica about to be killed, then its retries through the balancer.
type FleetIdempotency struct {
	// Phase is the phase of the kill.
	Phase string `json:"phase"`
	// Statuses are the answers' statuses in order (0: no answer), and
	// Replayed how many carried Idempotent-Replayed: true.
	Statuses []int `json:"statuses"`
	Replayed int   `json:"replayed"`
	// IDs are the distinct experiment ids answered.
	IDs []string `json:"ids"`
	// Creates counts the creates the experiments backend received during
	// the client's requests.
	Creates int64 `json:"creates"`
	// Errors are the first few transport errors.
	Errors []string `json:"errors,omitempty"`
}

// Failures counts the answers that were not 2xx.
func (i *FleetIdempotency) Failures() int {
	n := 0
	for _, s := range i.Statuses {
		if s < 200 || s > 299 {
			n++
		}
	}
	return n
}
