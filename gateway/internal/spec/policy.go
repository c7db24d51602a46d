package spec

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/policy"
)

// UnmarshalJSON reads a call of x-fanout strictly: its own keys into c,
// the keys of the policy registry into c.policies, any other key an error.
// A decoder's DisallowUnknownFields does not reach into a type's own
// UnmarshalJSON, so this one decodes strictly itself.
func (c *callDoc) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	own := make(map[string]json.RawMessage, len(all))
	for k, v := range all {
		if policy.Known(k) {
			if c.policies == nil {
				c.policies = map[string]json.RawMessage{}
			}
			c.policies[k] = v
			continue
		}
		own[k] = v
	}
	rest, err := json.Marshal(own)
	if err != nil {
		return err
	}
	// plain is callDoc without this method, so that decoding it does not
	// come back here.
	type plain callDoc
	return strictDecode(rest, (*plain)(c))
}

// decodePolicies has the policy registry read each policy key of call c
// into s.Policies, in the order of the keys so that an error is the same
// at every start. The registry checks what each may be applied to (GET
// only).
func (c callDoc) decodePolicies(s *fanout.CallSpec) error {
	for _, k := range slices.Sorted(maps.Keys(c.policies)) {
		if err := policy.Decode(k, c.policies[k], s); err != nil {
			return err
		}
	}
	return nil
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
