package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const costTargets = "targets: [{path: \"/v2/experiments/{id}/results\", ids: 1-1000}]\n"

func TestDecodeCost(t *testing.T) {
	s, err := Decode(strings.NewReader(costTargets+`
gateway: {deadline: 2s}
cost:
  rate: 300
  duration: 2s
  baseline: off
  configs:
    - {name: floor, floor: true, feature: the floor}
    - {name: off, flags: -auth off -overload off}
    - {name: gzip, flags: -auth off, accept_encoding: gzip}
  notes: [metrics cannot be switched off]
expect:
  - floor.cpu_per_request < off.cpu_per_request
  - gzip.cpu_ratio < 3
`), "cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cost
	if c == nil {
		t.Fatal("no cost section")
	}
	if c.Rate != 300 || c.Duration != 2*time.Second || c.Warmup != DefaultCostWarmup || c.Rounds != DefaultCostRounds || c.Baseline != "off" {
		t.Errorf("cost %+v", c)
	}
	want := []CostConfig{
		{Name: "floor", Feature: "the floor", Floor: true},
		{Name: "off", Args: []string{"-auth", "off", "-overload", "off"}},
		{Name: "gzip", Args: []string{"-auth", "off"}, AcceptEncoding: "gzip"},
	}
	if !slices.EqualFunc(c.Configs, want, func(a, b CostConfig) bool {
		return a.Name == b.Name && a.Feature == b.Feature && a.Floor == b.Floor && slices.Equal(a.Args, b.Args) && a.AcceptEncoding == b.AcceptEncoding
	}) {
		t.Errorf("configs %+v, want %+v", c.Configs, want)
	}
	if len(s.Expect) != 2 || len(c.Notes) != 1 || s.Gateway.Deadline != 2*time.Second {
		t.Errorf("expectations %d, notes %v, deadline %v", len(s.Expect), c.Notes, s.Gateway.Deadline)
	}
	// Starting each process, warming it up, then the rounds.
	if got, want := s.Estimate(), 3*(DefaultCostWarmup+CostStartOverhead)+3*3*(2*time.Second+CostRoundOverhead); got != want {
		t.Errorf("estimate %v, want %v", got, want)
	}
}

// TestDecodeCostSockets: a floor names how it reads and writes its
// sockets.
func TestDecodeCostSockets(t *testing.T) {
	s, err := Decode(strings.NewReader(costTargets+"cost: {configs: [{name: floor, floor: true}, {name: floor_net, floor: true, sockets: net}, {name: off}]}\n"), "file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Cost.Configs; c[0].Sockets != "" || c[1].Sockets != "net" || !c[1].Floor {
		t.Fatalf("configs %+v", c)
	}
}

func TestDecodeCostErrors(t *testing.T) {
	const configs = "cost: {configs: [{name: floor, floor: true}, {name: off, flags: -auth off}]}\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"load and cost", costTargets + "load: {rates: [10]}\n" + configs, "load: set together with cost"},
		{"neither", costTargets, "load: required: rates, a capacity search, or a cost section"},
		// The floor serves the results page alone.
		{"floor with another target", "targets: [{path: /v2/projects/1}]\n" + configs, "the floor (cost.configs floor) serves GET /v2/experiments/{id}/results only"},
		{"modes with cost", costTargets + "gateway: {modes: [sequential]}\n" + configs, "gateway.modes: not with cost"},
		{"no configs", costTargets + "cost: {rate: 10}\n", "cost.configs: required"},
		{"twice", costTargets + "cost: {configs: [{name: a}, {name: a}]}\n", `cost.configs[1].name: "a" appears twice`},
		{"unknown baseline", costTargets + "cost: {baseline: none, configs: [{name: a}]}\n", `cost.baseline: "none" is none of cost.configs`},
		{"floor with flags", costTargets + "cost: {configs: [{name: f, floor: true, flags: -auth off}]}\n", "the floor takes neither flags"},
		{"sockets of a gateway", costTargets + "cost: {configs: [{name: a, sockets: net}]}\n", "only a floor (floor: true) takes sockets"},
		{"unknown sockets", costTargets + "cost: {configs: [{name: f, floor: true, sockets: epoll}]}\n", `want raw or net, found "epoll"`},
		{"not flags", costTargets + "cost: {configs: [{name: a, flags: auth}]}\n", "want gateway flags"},
		{"unknown metric", costTargets + configs + "expect: [off.p99 < 1]\n", `unknown metric "p99" of a cost configuration`},
		{"rate in a name", costTargets + configs + "expect: [off@500.cpu_ratio < 1]\n", "without @RATE"},
		{"events with cost", costTargets + configs + "events: [{at: 1s, rate: 10}]\n", "events: not with cost"},
		{"a limit", costTargets + configs + "expect: [off.cpu_per_request < critical_path]\n", "no latency limits"},
		{"unknown config", costTargets + configs + "expect: [shipped.cpu_ratio < 1]\n", `"shipped" is neither a variant`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.src), "file.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
