package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fanout/gateway/fanout"
)

// hedgeDoc is a call's `hedge` key as written in x-fanout:
// `{after: 30ms | p95, max: 1}`.
type hedgeDoc struct {
	After string `json:"after"`
	Max   *int   `json:"max"`
}

// policies reads the policy keys of call c (hedge, coalesce, cache) into s.
// The engine's Compile checks what they may be applied to (GET only).
func (c callDoc) policies(s *fanout.CallSpec) error {
	if c.Hedge != nil {
		h, err := c.Hedge.spec()
		if err != nil {
			return fmt.Errorf("hedge: %w", err)
		}
		s.Hedge = h
	}
	s.Coalesce = c.Coalesce
	if c.Cache != "" {
		ttl, err := time.ParseDuration(c.Cache)
		if err != nil || ttl <= 0 {
			return fmt.Errorf("cache %q: not a positive duration", c.Cache)
		}
		s.Cache = ttl
	}
	return nil
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

// blameCall names the call whose declaration made the strict decoding of
// x-fanout (b) fail with err, such as an unknown policy key, so that the
// start-up error says which call to fix; err alone if no single call is
// at fault.
func blameCall(b []byte, err error) error {
	var loose struct {
		Calls []json.RawMessage `json:"calls"`
	}
	if json.Unmarshal(b, &loose) != nil {
		return err
	}
	for i, raw := range loose.Calls {
		var c callDoc
		if cerr := strictDecode(raw, &c); cerr != nil {
			var named struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(raw, &named)
			return fmt.Errorf("calls[%d] %q: %w", i, named.Name, cerr)
		}
	}
	return err
}
