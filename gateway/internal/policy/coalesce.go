package policy

import (
	"encoding/json"
	"fmt"
	"time"

	"fanout/gateway/fanout"
)

// coalesceEntry is `coalesce: true` and `cache: 1s`: concurrent requests
// share one GET call for a path, and a 2xx answer is kept for that long
// (fanout.Coalescer); both off with the NoCoalesce setting.
var coalesceEntry = Entry{
	Keys:      []string{"coalesce", "cache"},
	Exclusive: true,
	Decode: func(key string, raw json.RawMessage, s *fanout.CallSpec) (any, error) {
		if key == "coalesce" {
			return decodeOn(key, raw, s, "only GET calls may share an answer")
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("cache: want a duration such as 1s: %w", err)
		}
		ttl, err := time.ParseDuration(text)
		if err != nil || ttl <= 0 {
			return nil, fmt.Errorf("cache %q: not a positive duration", text)
		}
		if !isGet(s) {
			return nil, fmt.Errorf("cache: only the answers of GET calls may be cached, not %s", methodOf(s))
		}
		return ttl, nil
	},
	New: func(env *Env) (Build, error) {
		return func(s *fanout.CallSpec, labels string) (fanout.Policy, error) {
			on, _ := s.Policies["coalesce"].(bool)
			ttl, _ := s.Policies["cache"].(time.Duration)
			if env.NoCoalesce || (!on && ttl == 0) {
				return nil, nil
			}
			co, err := fanout.NewCoalescer(on, ttl, 0)
			if err != nil {
				return nil, err
			}
			if on {
				env.Metrics.CounterFunc("fanout_coalesced_calls_total", labels, func() float64 { return float64(co.Coalesced()) })
			}
			if ttl > 0 {
				env.Metrics.CounterFunc("fanout_cache_hits_total", labels, func() float64 { return float64(co.Hits()) })
				env.Metrics.CounterFunc("fanout_cache_misses_total", labels, func() float64 { return float64(co.Misses()) })
			}
			return co, nil
		}, nil
	},
}
