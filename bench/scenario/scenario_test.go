package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

func TestDecodeFull(t *testing.T) {
	s, err := LoadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "full" || s.Description == "" {
		t.Errorf("name %q description %q", s.Name, s.Description)
	}
	if got := s.Backends.RouteLatency("results", "get_results").String(); !strings.HasPrefix(got, "lognormal") {
		t.Errorf("results latency %s, want the lognormal of the file", got)
	}
	var labels []string
	for _, v := range s.Gateway.Variants() {
		labels = append(labels, v.Label)
	}
	if strings.Join(labels, " ") != "concurrent pool4 pool64" {
		t.Errorf("variants %v, want concurrent pool4 pool64", labels)
	}
	g := s.Gateway
	if g.MaxConns != 256 || g.Deadline != time.Second || g.BackendTimeout != 500*time.Millisecond {
		t.Errorf("gateway settings %+v", g)
	}
	if len(s.Targets) != 2 || s.Targets[1].Method != "GET" || s.Targets[1].IDs != (IDRange{Min: 5, Max: 9}) || s.Targets[0].Weight != 80 {
		t.Errorf("targets %+v", s.Targets)
	}
	if s.Targets[0].Expand(42) != "/v2/experiments/42/results" {
		t.Errorf("expand: %s", s.Targets[0].Expand(42))
	}
	l := s.Load
	if l.Warmup != 500*time.Millisecond || l.Duration != 10*time.Second || len(l.Rates) != 2 || l.Timeout != 3*time.Second || l.Seed != 7 {
		t.Errorf("load %+v", l)
	}
	if len(s.Events) != 2 || s.Events[0].Set.Latency == nil || !s.Events[1].Restore {
		t.Errorf("events %+v", s.Events)
	}
	if strings.Join(s.Phases(), " ") != "before degraded recovered" {
		t.Errorf("phases %v", s.Phases())
	}
	if len(s.Expect) != 5 {
		t.Errorf("%d expectations, want 5", len(s.Expect))
	}
	if s.Estimate() <= 0 {
		t.Error("no time estimate")
	}
}

func TestDecodeDefaults(t *testing.T) {
	s, err := Decode(strings.NewReader("targets: [{path: /v2/projects/1}]\nload: {rates: [10]}\n"), "dir/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "minimal" {
		t.Errorf("name %q, want the file's base name", s.Name)
	}
	if len(s.Gateway.Variants()) != len(fanout.Modes) || s.Gateway.Variants()[3].Label != "pool" || s.Gateway.Variants()[3].PoolSize != fanout.DefaultPoolSize {
		t.Errorf("default variants %+v", s.Gateway.Variants())
	}
	if s.Load.Warmup != DefaultWarmup || s.Load.Duration != DefaultDuration || s.Load.Timeout != DefaultTimeout {
		t.Errorf("default load %+v", s.Load)
	}
	if s.Targets[0].Method != "GET" || s.Targets[0].Weight != 1 {
		t.Errorf("default target %+v", s.Targets[0])
	}
	c, err := Decode(strings.NewReader("targets: [{path: /x}]\nload: {capacity: {p99: 100ms}}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cp := c.Load.Capacity; cp.Success != DefaultSuccess || cp.Budget != DefaultBudget || cp.Start != DefaultCapacityStart {
		t.Errorf("default capacity %+v", cp)
	}
}

func TestDecodeErrors(t *testing.T) {
	const ok = "targets: [{path: /v2/projects/1}]\nload: {rates: [10]}\n"
	tests := []struct {
		name string
		src  string
		want string // "line: path: reason" fragment
	}{
		{"unknown top-level field", ok + "extra: 1\n", ":3: extra: unknown field"},
		{"zipf skew not above 1", "targets: [{path: \"/x/{id}\", ids: 1-10, distribution: {kind: zipf, s: 1}}]\nload: {rates: [10]}\n", "targets[0].distribution.s: want a skew above 1"},
		{"unknown distribution", "targets: [{path: \"/x/{id}\", ids: 1-10, distribution: pareto}]\nload: {rates: [10]}\n", "targets[0].distribution: want uniform"},
		{"zipf without id", "targets: [{path: /x, distribution: {kind: zipf, s: 1.1}}]\nload: {rates: [10]}\n", "targets[0].distribution: set, but the path has no {id}"},
		{"unknown load field", "targets: [{path: /x}]\nload: {rates: [10], rps: 5}\n", ":2: load.rps: unknown field"},
		{"no targets", "load: {rates: [10]}\n", "targets: required"},
		{"empty targets", "targets: []\nload: {rates: [10]}\n", "targets: empty"},
		{"no load", "targets: [{path: /x}]\n", "load: required"},
		{"rates and capacity", "targets: [{path: /x}]\nload: {rates: [1], capacity: {p99: 1s}}\n", "load.capacity: set together"},
		{"negative rate", "targets: [{path: /x}]\nload: {rates: [10, -5]}\n", "load.rates[1]: must be positive"},
		{"duplicate rate", "targets: [{path: /x}]\nload: {rates: [10, 10]}\n", "load.rates[1]: rate 10 appears twice"},
		{"rate not a number", "targets: [{path: /x}]\nload: {rates: [fast]}\n", "load.rates[0]: want a number"},
		{"bad duration", "targets: [{path: /x}]\nload: {rates: [1], duration: 5}\n", "load.duration: want a duration"},
		{"negative duration", "targets: [{path: /x}]\nload: {rates: [1], warmup: -1s}\n", "load.warmup: must not be negative"},
		{"zero duration", "targets: [{path: /x}]\nload: {rates: [1], duration: 0s}\n", "load.duration: must be positive"},
		{"zero timeout", "targets: [{path: /x}]\nload: {rates: [1], timeout: 0s}\n", "load.timeout: must be positive"},
		{"no generator", "targets: [{path: /x}]\nload: {rates: [1], generators: 0}\n", "load.generators"},
		{"too many generators", "targets: [{path: /x}]\nload: {rates: [1], generators: 17}\n", "load.generators: 17 generator processes on one machine is more than 16"},
		{"generators and bodies", "targets: [{path: /x}]\nload: {rates: [1], compare_bodies: true, generators: 2}\n", "load.generators: set together with load.compare_bodies"},
		{"zero capacity p99", "targets: [{path: /x}]\nload: {capacity: {p99: 0s}}\n", "load.capacity.p99: must be positive"},
		{"zero capacity step", "targets: [{path: /x}]\nload: {capacity: {p99: 1s, step: 0s}}\n", "load.capacity.step: must be positive"},
		{"zero capacity hold", "targets: [{path: /x}]\nload: {capacity: {p99: 1s, hold: 0s}}\n", "load.capacity.hold: must be positive"},
		{"capacity without p99", "targets: [{path: /x}]\nload: {capacity: {start: 10}}\n", "load.capacity.p99: required"},
		{"capacity success > 1", "targets: [{path: /x}]\nload: {capacity: {p99: 1s, success: 99.9}}\n", "load.capacity.success: want a fraction"},
		{"capacity budget < step", "targets: [{path: /x}]\nload: {capacity: {p99: 1s, step: 5s, budget: 1s}}\n", "load.capacity.budget: shorter than one step"},
		{"unknown mode", "gateway: {modes: [async]}\n" + ok, ":1: gateway.modes[0]: unknown mode \"async\""},
		{"duplicate mode", "gateway: {modes: [pool, pool]}\n" + ok, "gateway.modes[1]: mode \"pool\" appears twice"},
		{"pool sizes without pool", "gateway: {modes: [concurrent], pool_sizes: [4]}\n" + ok, "gateway.pool_sizes: set, but the modes do not include pool"},
		{"zero pool size", "gateway: {pool_sizes: [0]}\n" + ok, "gateway.pool_sizes[0]: must be at least 1"},
		{"duplicate pool size", "gateway: {pool_sizes: [4, 4]}\n" + ok, "gateway.pool_sizes[1]: size 4 appears twice"},
		{"gateway field typo", "gateway: {mode: [pool]}\n" + ok, "gateway.mode: unknown field"},
		{"path without slash", "targets: [{path: v2/x}]\nload: {rates: [1]}\n", "targets[0].path: must start with '/'"},
		{"other placeholder", "targets: [{path: '/x/{pid}'}]\nload: {rates: [1]}\n", "targets[0].path: the only placeholder is {id}"},
		{"id placeholder without ids", "targets: [{path: '/x/{id}'}]\nload: {rates: [1]}\n", "targets[0].ids: required"},
		{"ids without placeholder", "targets: [{path: /x, ids: 1-5}]\nload: {rates: [1]}\n", "targets[0].ids: set, but the path has no {id}"},
		{"ids reversed", "targets: [{path: '/x/{id}', ids: 9-5}]\nload: {rates: [1]}\n", "targets[0].ids: want 0 <= min <= max"},
		{"bad method", "targets: [{path: /x, method: FETCH}]\nload: {rates: [1]}\n", "targets[0].method: unknown method"},
		{"zero weight", "targets: [{path: /x, weight: 0}]\nload: {rates: [1]}\n", "targets[0].weight: must be positive"},
		{"backend unknown service", "backends: {billing: {latency: fixed:1ms}}\n" + ok, "backends.billing"},
		{"backend bad latency", "backends:\n  results:\n    latency: {kind: lognormal, p50: 40ms, p99: 10ms}\n" + ok, ":3: backends.results.latency"},
		{"event after the run", ok + "events: [{at: 9s, service: results, restore: true}]\n", "events[0].at: must be after the previous event and within load.duration"},
		{"event unknown service", ok + "events: [{at: 1s, service: billing, restore: true}]\n", "events[0].service: unknown service"},
		{"event without change", ok + "events: [{at: 1s, service: results}]\n", "events[0]: want set"},
		{"event changing nothing", ok + "events: [{at: 1s, name: calm}]\n", "events[0]: want a change: a service with set or restore, a rate, a fleet action, or several"},
		{"event set without service", ok + "events: [{at: 1s, set: {latency: fixed:1ms}}]\n", "events[0].service: required with set or restore"},
		{"event restore without service", ok + "events: [{at: 1s, restore: true, rate: 5}]\n", "events[0].service: required with set or restore"},
		{"event zero rate", ok + "events: [{at: 1s, rate: 0}]\n", ":3: events[0].rate: must be positive"},
		{"event rate not a number", ok + "events: [{at: 1s, rate: calm}]\n", "events[0].rate: want a number"},
		{"event rate typo", ok + "events: [{at: 1s, rps: 5}]\n", "events[0].rps: unknown field"},
		{"event bad model", ok + "events: [{at: 1s, service: results, set: {latency: {kind: warp}}}]\n", "events[0].set.latency"},
		{"event unknown route", ok + "events: [{at: 1s, service: results, set: {routes: {get_layer: {latency: fixed:1ms}}}}]\n", "events[0].set.routes"},
		{"expectation syntax", ok + "expect: ['concurrent.p50 <= ']\n", "expect[0]: expectation \"concurrent.p50 <= \": column 19"},
		{"expectation unknown variant", "gateway: {modes: [concurrent]}\n" + ok + "expect: ['blocking.p50 > 1']\n", "expect[0]: blocking.p50: \"blocking\" is neither a variant"},
		{"expectation unknown metric", ok + "expect: ['concurrent.p42 > 1']\n", "unknown metric \"p42\""},
		{"expectation unknown rate", ok + "expect: ['concurrent@20.p50 > 1']\n", "rate 20 is not one of load.rates"},
		{"expectation unknown phase", ok + "expect: ['concurrent.later.p50 > 1']\n", "unknown phase \"later\""},
		{"expectation capacity with rates", ok + "expect: ['concurrent.capacity > 1']\n", "capacity needs a capacity search"},
		{"expectation limit stat", ok + "expect: ['critical_path.p42 > 1']\n", "unknown statistic"},
		{"not a mapping", "- a\n- b\n", "want a mapping"},
		{"two documents", ok + "---\n" + ok, "more than one YAML document"},
		{"empty", "", "empty file"},
		{"syntax", "targets: [\n", "file.yaml:1: "},
		{"bad name", "name: ../etc\n" + ok, "name: must be letters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.src), "file.yaml")
			if err == nil {
				t.Fatalf("decoded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "file.yaml") {
				t.Fatalf("error %q, want it to start with the file name and contain %q", err, tc.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *scenario.Error", err)
			}
		})
	}
}

// TestShippedScenarios decodes every scenario of the suite, so a broken
// file fails here rather than ten minutes into a run.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios/*.yaml: the repository ships its scenario files")
	}
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if s.Description == "" {
			t.Errorf("%s: no description", f)
		}
	}
}

func TestDecodeEventRates(t *testing.T) {
	// An event may change the rate alone, a backend alone, or both; each
	// phase's rate carries over until an event changes it.
	src := `targets: [{path: /x}]
load: {rates: [200, 400], duration: 20s}
events:
  - {at: 5s, name: dead, service: results, set: {latency: fixed:1ms}}
  - {at: 10s, name: calm, rate: 100}
  - {at: 11s, name: settled, rate: 100}
  - {at: 15s, name: back, service: results, restore: true, rate: 300}
expect:
  - concurrent@400.settled.rate == 100
`
	s, err := Decode(strings.NewReader(src), "rates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := s.Events
	if e[0].Rate != 0 || e[0].Service != "results" || e[1].Rate != 100 || e[1].Service != "" || e[3].Rate != 300 || !e[3].Restore {
		t.Errorf("events %+v", e)
	}
	tests := []struct {
		rate float64
		want []float64
	}{
		{400, []float64{400, 400, 100, 100, 300}},
		{200, []float64{200, 200, 100, 100, 300}},
	}
	for _, tc := range tests {
		if got := s.PhaseRates(tc.rate); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("PhaseRates(%v) = %v, want %v", tc.rate, got, tc.want)
		}
	}
	if got := (&Scenario{}).PhaseRates(100); got != nil {
		t.Errorf("PhaseRates without events = %v, want nil", got)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestIsStatusMetric(t *testing.T) {
	for m, want := range map[string]bool{"code_504": true, "code_0": true, "code_": false, "code_5x": false, "code_0504": false, "code_600": false, "p50": false} {
		if IsStatusMetric(m) != want {
			t.Errorf("IsStatusMetric(%q) = %v", m, !want)
		}
	}
}

// TestDecodeReportsEveryError checks that one read of a file lists all its
// problems, each with its line, in line order, and nothing more: a bad
// section does not hide the next one, and a problem is not echoed by the
// sections that depend on it.
func TestDecodeReportsEveryError(t *testing.T) {
	const src = `name: ok
gateway: {modes: [concurrent, async]}
targets:
  - {path: /v2/projects/1, weight: 0}
  - {path: v2/x}
load: {rates: [10, -5], duraton: 1s}
expect:
  - concurrent.p42 > 1
  - concurrent.p50 > 1
`
	_, err := Decode(strings.NewReader(src), "file.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want scenario.Errors", err, err)
	}
	want := []string{
		`file.yaml:2: gateway.modes[1]: unknown mode "async"`,
		`file.yaml:4: targets[0].weight: must be positive`,
		`file.yaml:5: targets[1].path: must start with '/'`,
		`file.yaml:6: load.duraton: unknown field`,
		`file.yaml:6: load.rates[1]: must be positive`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d is %q, want it to start with %q", i, lines[i], w)
		}
	}
	// With a sound gateway and load, the expectations are checked too.
	_, err = Decode(strings.NewReader("targets: [{path: /x, weight: -1}]\nload: {rates: [10]}\nexpect: [concurrent.p42 > 1]\n"), "file.yaml")
	if err == nil || !strings.Contains(err.Error(), ":1: targets[0].weight") || !strings.Contains(err.Error(), ":3: expect[0]: concurrent.p42") {
		t.Errorf("error %v, want the target's and the expectation's problems", err)
	}
}

// TestDecodeReportsBackendErrorsWithTheRest checks that problems inside the
// backends' models (the section and an event's set:) are reported in the
// same read as the scenario's own, in line order, each in the one wording
// of the strict decoder: "file:line: path: reason".
func TestDecodeReportsBackendErrorsWithTheRest(t *testing.T) {
	const src = `name: ok
gateway: {modes: [async]}
backends:
  results:
    latncy: fixed:1ms
    faults: {error: 1.5, hang: "0.1"}
  layers: [1]
targets:
  - {path: v2/x}
load: {rates: [10]}
events:
  - {at: 1s, service: results, set: {latency: {kind: warp}, max_in_flight: -1}}
`
	_, err := Decode(strings.NewReader(src), "file.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want scenario.Errors", err, err)
	}
	want := strings.Join([]string{
		`file.yaml:2: gateway.modes[0]: unknown mode "async" (known: ` + strings.Join(fanout.Modes, ", ") + `)`,
		`file.yaml:5: backends.results.latncy: unknown field (known: latency, faults, max_in_flight, queue_limit, routes)`,
		`file.yaml:6: backends.results.faults.error: probability 1.5 is outside 0..1`,
		`file.yaml:6: backends.results.faults.hang: want a number, found "0.1"`,
		`file.yaml:7: backends.layers: want a mapping, found a list`,
		`file.yaml:9: targets[0].path: must start with '/', found "v2/x"`,
		`file.yaml:12: events[0].set.latency.kind: unknown latency kind "warp" (known: ` + strings.Join(model.Kinds, ", ") + `)`,
		`file.yaml:12: events[0].set.max_in_flight: must be at least 0, found -1`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}
}

// TestDecodePolicies: overload is one setting for every variant, off
// running each with -overload off and keeping the modes' labels; shedding
// on and off are compared as configs; breaker turns the breakers on;
// expectations may name the configs' variants and the served/failed
// latencies and calls per second.
func TestDecodePolicies(t *testing.T) {
	src := `gateway: {modes: [concurrent, pool], configs: {shed: "", noshed: "-overload off"}, breaker: on}
targets: [{path: /x}]
load: {rates: [10]}
expect:
  - concurrent_noshed.ok_p99 > concurrent_shed.ok_p99
  - concurrent_shed.failed_p99 <= 5ms
  - concurrent_shed.calls_per_s_results <= 3
`
	s, err := Decode(strings.NewReader(src), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, v := range s.Gateway.Variants() {
		labels = append(labels, fmt.Sprintf("%s:%s", v.Label, strings.Join(v.Args, " ")))
	}
	if got, want := strings.Join(labels, " "), "concurrent_shed: concurrent_noshed:-overload off pool_shed: pool_noshed:-overload off"; got != want {
		t.Errorf("variants %s, want %s", got, want)
	}
	if !s.Gateway.Breaker || s.Gateway.OverloadOff {
		t.Errorf("breaker %v, overload off %v: want the breakers on and shedding left on", s.Gateway.Breaker, s.Gateway.OverloadOff)
	}
	s, err = Decode(strings.NewReader("gateway: {modes: [concurrent], overload: off}\ntargets: [{path: /x}]\nload: {rates: [10]}\n"), "q.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Gateway.Variants(); len(v) != 1 || v[0].Label != "concurrent" || !s.Gateway.OverloadOff {
		t.Errorf("overload: off: %+v (off %v), want concurrent with shedding off", v, s.Gateway.OverloadOff)
	}
	for _, bad := range []string{"overload: maybe", "overload: []", "overload: [on, off]", "breaker: [on]"} {
		_, err := Decode(strings.NewReader("gateway: {"+bad+"}\ntargets: [{path: /x}]\nload: {rates: [10]}\n"), "b.yaml")
		if err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	_, err = Decode(strings.NewReader("gateway: {overload: [on, off]}\ntargets: [{path: /x}]\nload: {rates: [10]}\n"), "l.yaml")
	if err == nil || !strings.Contains(err.Error(), `noshed: "-overload off"`) {
		t.Errorf("overload: [on, off]: %v, want an error that shows the configs to write", err)
	}
	if _, err := Decode(strings.NewReader("targets: [{path: /x}]\nload: {rates: [10]}\nexpect: [concurrent.calls_per_s_nothing < 1]\n"), "c.yaml"); err == nil {
		t.Error("calls_per_s of an unknown service accepted")
	}
}

func TestDecodeGenerators(t *testing.T) {
	s, err := Decode(strings.NewReader("targets: [{path: /x}]\nload: {rates: [1], generators: 3}\n"), "g.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Load.Generators != 3 {
		t.Errorf("generators %d, want 3", s.Load.Generators)
	}
}
