package harness

import (
	"slices"
	"testing"

	"fanout/bench/scenario"
)

// TestGatewaySpecMaxConns checks that a scenario's max_conns reaches the
// gateway as -max-backend-conns, the flag's name, and not as -max-conns,
// the deprecated alias that a later gateway may drop.
func TestGatewaySpecMaxConns(t *testing.T) {
	s := &scenario.Scenario{Gateway: scenario.Gateway{MaxConns: 7}}
	args := gatewaySpec(s, scenario.Variant{Mode: "concurrent"}).Args
	if i := slices.Index(args, "-max-backend-conns"); i < 0 || i+1 >= len(args) || args[i+1] != "7" {
		t.Errorf("args %q: want -max-backend-conns 7", args)
	}
	if slices.Contains(args, "-max-conns") {
		t.Errorf("args %q pass the deprecated -max-conns", args)
	}
}
