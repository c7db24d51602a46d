package stage

import (
	"time"
)

// The gateway's metrics that the page shows: requests in flight (a gauge)
// and the counters of the policies the page toggles, as rates.
const (
	metricInFlight = "fanout_requests_in_flight"
)

// policyCounters maps the page's name of a policy's work to the gateway's
// counter of it.
var policyCounters = map[string]string{
	"hedges":          "fanout_hedges_sent_total",
	"shed":            "fanout_requests_shed_total",
	"breaker_refused": "fanout_breaker_refused_total",
	"coalesced":       "fanout_coalesced_calls_total",
}

// counterRates turns successive readings of counters into rates per
// second. A counter that went down belongs to a new gateway process (the
// stage restarted it): its rate restarts from its new reading.
type counterRates struct {
	prev map[string]float64
	at   time.Time
}

func (c *counterRates) rates(now time.Time, cur map[string]float64) map[string]float64 {
	out := map[string]float64{}
	dt := now.Sub(c.at).Seconds()
	for page, metric := range policyCounters {
		v, ok := cur[metric]
		p, had := c.prev[metric]
		switch {
		case !ok:
		case !had || dt <= 0 || v < p:
			out[page] = 0
		default:
			out[page] = (v - p) / dt
		}
	}
	c.prev, c.at = cur, now
	return out
}
