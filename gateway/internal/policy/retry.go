package policy

import (
	"encoding/json"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/retry"
)

// retryEntry is `retry: true`: one more attempt of a GET call that was
// never sent or answered 503, within the process-wide retry budget
// (retry.Policy).
var retryEntry = Entry{
	Keys: []string{"retry"},
	Decode: func(key string, raw json.RawMessage, s *fanout.CallSpec) (any, error) {
		return decodeOn(key, raw, s, "only a GET call may be retried")
	},
	New: func(env *Env) (Build, error) {
		budget, err := retry.NewBudget(env.RetryBudget)
		if err != nil || budget == nil {
			// Retries off: no policy, and no series to say so.
			return func(*fanout.CallSpec, string) (fanout.Policy, error) { return nil, nil }, err
		}
		env.Metrics.CounterFunc("fanout_retries_total", "", func() float64 { return float64(budget.Spent()) })
		env.Metrics.CounterFunc("fanout_retries_denied_total", "", func() float64 { return float64(budget.Denied()) })
		p := retry.New(budget)
		return func(s *fanout.CallSpec, _ string) (fanout.Policy, error) {
			if on, _ := s.Policies["retry"].(bool); on {
				return p, nil
			}
			return nil, nil
		}, nil
	},
}
