package harness

import (
	"fmt"
	"strings"

	"fanout/bench/scenario"
	"fanout/gateway/assembly"
)

// CheckFlags says which gateway flags of s the gateway would refuse, each
// with its place in the scenario file and the gateway's own reason, or
// nil. It checks the flags as the harness passes them (the mode, the pool
// size, the gateway section's settings, a config's flags) with the
// gateway's own parser and validation, so that the bench holds no copy of
// the gateway's flags, modes or defaults, and a mistake stops the run
// before anything starts rather than when its step comes.
func CheckFlags(s *scenario.Scenario) error {
	var problems []string
	check := func(where string, v scenario.Variant) bool {
		args := gatewaySpec(s, v).Flags()
		if err := assembly.CheckFlags(args); err != nil {
			problems = append(problems, fmt.Sprintf("%s: the gateway refuses the flags %q: %v", where, strings.Join(args, " "), err))
			return false
		}
		return true
	}
	base := scenario.Gateway{Modes: s.Gateway.Modes, PoolSizes: s.Gateway.PoolSizes}.Variants()
	if s.Cost == nil {
		for _, v := range base {
			check(fmt.Sprintf("%s: gateway (%s)", s.File, v.Label), v)
		}
	}
	// A config's flags join each mode's; the first refusal says enough.
	for _, c := range s.Gateway.Configs {
		for _, v := range base {
			v.Args = c.Args
			if !check(fmt.Sprintf("%s:%d: gateway.configs.%s (%s)", s.File, c.Line, c.Name, v.Label), v) {
				break
			}
		}
	}
	if s.Cost != nil {
		for i, c := range s.Cost.Configs {
			if !c.Floor {
				check(fmt.Sprintf("%s:%d: cost.configs[%d] (%s)", s.File, c.Line, i, c.Name), costVariant(c))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
