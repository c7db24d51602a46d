package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fanout/gateway/fanout"
)

// hedgeEntry is `hedge: {after: 30ms | p95, max: 1}`: a duplicate of a
// slow GET call (fanout.Hedger), drawing on the process-wide hedge budget.
var hedgeEntry = Entry{
	Keys:      []string{"hedge"},
	Exclusive: true,
	Decode: func(_ string, raw json.RawMessage, s *fanout.CallSpec) (any, error) {
		if !isGet(s) {
			return nil, fmt.Errorf("hedge: a %s call is not idempotent; only GET calls may be hedged", methodOf(s))
		}
		var d hedgeDoc
		if err := strict(raw, &d); err != nil {
			return nil, fmt.Errorf("hedge: %w", err)
		}
		h, err := d.spec()
		if err != nil {
			return nil, fmt.Errorf("hedge: %w", err)
		}
		return h, nil
	},
	New: func(env *Env) (Build, error) {
		budget, err := fanout.NewBudget(env.HedgeBudget, fanout.HedgeBurst)
		if err != nil {
			return nil, fmt.Errorf("hedge %w", err)
		}
		// The budget is process-wide, so its refusals are one series.
		env.Metrics.CounterFunc("fanout_hedges_denied_total", "", func() float64 { return float64(budget.Denied()) })
		return func(s *fanout.CallSpec, labels string) (fanout.Policy, error) {
			spec, ok := s.Policies["hedge"].(*fanout.HedgeSpec)
			if !ok {
				return nil, nil
			}
			h, err := fanout.NewHedger(*spec, budget)
			if err != nil {
				return nil, fmt.Errorf("hedge: %w", err)
			}
			env.Metrics.CounterFunc("fanout_hedges_sent_total", labels, func() float64 { return float64(h.Sent()) })
			env.Metrics.CounterFunc("fanout_hedges_won_total", labels, func() float64 { return float64(h.Won()) })
			env.Metrics.Gauge("fanout_hedge_delay_seconds", labels, func() float64 {
				if d, armed := h.Armed(); armed {
					return d.Seconds()
				}
				return 0
			})
			return h, nil
		}, nil
	},
}

// hedgeDoc is a call's `hedge` key as written in x-fanout.
type hedgeDoc struct {
	After string `json:"after"`
	Max   *int   `json:"max"`
}

// spec reads `after` as a duration (30ms) or a quantile of the call's
// recent latencies (p95, p99.9).
func (h *hedgeDoc) spec() (*fanout.HedgeSpec, error) {
	var s fanout.HedgeSpec
	if h.Max != nil {
		if *h.Max < 1 {
			return nil, fmt.Errorf("max %d: want at least 1 duplicate", *h.Max)
		}
		s.Max = *h.Max
	}
	switch {
	case h.After == "":
		return nil, fmt.Errorf("after: missing (a duration such as 30ms, or a quantile such as p95)")
	case strings.HasPrefix(h.After, "p"):
		q, err := strconv.ParseFloat(h.After[1:], 64)
		if err != nil || q <= 0 || q >= 100 {
			return nil, fmt.Errorf("after %q: not a quantile between p0 and p100 exclusive", h.After)
		}
		s.Quantile = q / 100
	default:
		d, err := time.ParseDuration(h.After)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("after %q: not a positive duration or a quantile such as p95", h.After)
		}
		s.After = d
	}
	return &s, nil
}

// strict decodes the JSON raw into v, refusing unknown keys.
func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
