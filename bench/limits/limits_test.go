package limits

import (
	"testing"
	"time"

	"fanout/bench/dist"
	"fanout/gateway/assembly"
	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

// ops are plans of the shape of the gateway's: the aggregate (experiment
// first, then layer and settings from its fields, results in parallel from
// the start), a plain read, and a list with a query.
func ops(t *testing.T) []Op {
	t.Helper()
	op := func(id, method, path string, params []string, calls ...fanout.CallSpec) Op {
		p, err := fanout.Compile(id, calls, params)
		if err != nil {
			t.Fatal(err)
		}
		return Op{ID: id, Method: method, Path: path, Plan: p}
	}
	experiment := fanout.CallSpec{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"}
	return []Op{
		op("getExperimentResults", "GET", "/v2/experiments/{experiment_id}/results", []string{"experiment_id"},
			experiment,
			fanout.CallSpec{Name: "layer", Backend: "layers", Path: "/layers/{experiment.layer_id}", Optional: true},
			fanout.CallSpec{Name: "settings", Backend: "projects", Path: "/projects/{experiment.project_id}/settings", Timeout: time.Second},
			fanout.CallSpec{Name: "results", Backend: "results", Path: "/results/{experiment_id}"}),
		op("getExperiment", "GET", "/v2/experiments/{experiment_id}", []string{"experiment_id"}, experiment),
		op("listExperiments", "GET", "/v2/experiments", []string{"project_id"},
			fanout.CallSpec{Name: "experiments", Backend: "experiments", Path: "/experiments?project_id={project_id}"}),
	}
}

func TestMatch(t *testing.T) {
	o := ops(t)
	op, ok := Match(o, "GET", "/v2/experiments/42/results")
	if !ok || op.ID != "getExperimentResults" || op.Plan.Len() != 4 {
		t.Fatalf("match of the aggregate: %+v %v", op, ok)
	}
	if op, ok := Match(o, "get", "/v2/experiments/{id}"); !ok || op.ID != "getExperiment" {
		t.Fatalf("match of a template path: %+v %v", op, ok)
	}
	if op, ok := Match(o, "GET", "/v2/experiments?project_id=3"); !ok || op.ID != "listExperiments" {
		t.Fatalf("match with a query: %+v %v", op, ok)
	}
	if _, ok := Match(o, "DELETE", "/v2/experiments/1"); ok {
		t.Fatal("a DELETE matched")
	}
	if _, ok := Match(o, "GET", "/v2/layers/1"); ok {
		t.Fatal("an unknown path matched")
	}
}

// resultsLimits computes, with Compute's n and seed, the limits of the
// aggregate results operation of the test document under cfg.
func resultsLimits(t *testing.T, cfg model.Config, n int, seed uint64) dist.Limits {
	t.Helper()
	op, _ := Match(ops(t), "GET", "/v2/experiments/1/results")
	l, err := Compute([]Weighted{{Op: op, Weight: 1}}, cfg, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFixedLimits(t *testing.T) {
	l := resultsLimits(t, model.Default(), 0, 1)
	// experiments 20, layers 15, projects 10, results 40 (the defaults):
	// critical path max(20+15, 20+10, 40) = 40; levels max(20,40)+max(15,10)
	// = 55; sum 85.
	if !l.Fixed || l.CriticalPath.P50 != 40*time.Millisecond || l.CriticalPath.P99 != 40*time.Millisecond {
		t.Errorf("critical path %+v fixed=%v, want 40ms everywhere", l.CriticalPath, l.Fixed)
	}
	if l.Levels.P50 != 55*time.Millisecond || l.Sum.P50 != 85*time.Millisecond {
		t.Errorf("levels %v sum %v, want 55ms and 85ms", l.Levels.P50, l.Sum.P50)
	}
}

func TestMixedWorkload(t *testing.T) {
	o := ops(t)
	agg, _ := Match(o, "GET", "/v2/experiments/1/results")
	one, _ := Match(o, "GET", "/v2/experiments/1")
	l, err := Compute([]Weighted{{Op: agg, Weight: 80}, {Op: one, Weight: 20}}, model.Default(), 10000, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 80 % of requests cost 40ms, 20 % cost 20ms: the median is 40ms, the
	// 10th percentile would be 20ms, and the mean about 36ms.
	if l.CriticalPath.P50 != 40*time.Millisecond {
		t.Errorf("p50 %v, want 40ms", l.CriticalPath.P50)
	}
	if m := l.CriticalPath.Mean; m < 34*time.Millisecond || m > 38*time.Millisecond {
		t.Errorf("mean %v, want about 36ms", m)
	}
}

// lognormal gives every service a lognormal latency, p50 20 ms, p99 200 ms.
func lognormal(t *testing.T) model.Config {
	t.Helper()
	l, err := model.ParseLatency("lognormal:p50=20ms,p99=200ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{}
	for _, s := range model.Services {
		cfg[s] = model.Service{Latency: &l}
	}
	return cfg
}

func TestRandomModelsWidenTheTail(t *testing.T) {
	cfg := lognormal(t)
	l := resultsLimits(t, cfg, 20000, 1)
	if l.Fixed {
		t.Error("lognormal models reported as fixed")
	}
	// Waiting for the slowest of several calls: the critical path's median
	// exceeds one call's median, and its p99 exceeds one call's p99.
	if l.CriticalPath.P50 <= 20*time.Millisecond || l.CriticalPath.P99 <= 200*time.Millisecond {
		t.Errorf("critical path %+v, want p50 > 20ms and p99 > 200ms", l.CriticalPath)
	}
	if !(l.CriticalPath.P50 < l.Levels.P50 && l.Levels.P50 < l.Sum.P50) {
		t.Errorf("want critical path < levels < sum at p50: %v %v %v", l.CriticalPath.P50, l.Levels.P50, l.Sum.P50)
	}
	// Reproducible with the same seed.
	if again := resultsLimits(t, cfg, 20000, 1); again != l {
		t.Error("same seed, different limits")
	}
}

// TestGateway: the limits of the gateway's aggregate come from the plans
// the gateway itself runs, so a change of its x-fanout reaches the bench
// with nothing to keep in step.
func TestGateway(t *testing.T) {
	o, err := Gateway()
	if err != nil {
		t.Fatal(err)
	}
	plans, err := assembly.Plans()
	if err != nil {
		t.Fatal(err)
	}
	if len(o) != len(plans) {
		t.Fatalf("%d operations, the gateway has %d plans", len(o), len(plans))
	}
	for i, op := range o {
		if op.Plan != plans[i].Plan {
			t.Errorf("%s: not the gateway's plan", op.ID)
		}
	}
	op, ok := Match(o, "GET", "/v2/experiments/1/results")
	if !ok {
		t.Fatal("the gateway has no aggregate results operation")
	}
	l, err := Compute([]Weighted{{Op: op, Weight: 1}}, model.Default(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l.CriticalPath.P50 != 40*time.Millisecond || l.Sum.P50 != 85*time.Millisecond {
		t.Errorf("aggregate limits %v / %v, want 40ms / 85ms", l.CriticalPath.P50, l.Sum.P50)
	}
}

func TestRandomLimitsCarryTheirUncertainty(t *testing.T) {
	cfg := lognormal(t)
	a := resultsLimits(t, cfg, 5000, 1)
	// One batch of 5000 does not pin a lognormal p99 to 1 %: Compute
	// samples more, and says how well it knows the figures.
	if a.Samples <= 5000 || a.Uncertainty <= 0 {
		t.Fatalf("%d samples, uncertainty %v: want more than one batch and a stated uncertainty", a.Samples, a.Uncertainty)
	}
	if a.Uncertainty > Precision && a.Samples < MaxBatches*5000 {
		t.Errorf("stopped at %d samples with an uncertainty of %.2f%%, above %.0f%%", a.Samples, 100*a.Uncertainty, 100*Precision)
	}
	// Another seed draws other latencies: its p99 lies within the
	// stated uncertainty (with the slack of two independent estimates).
	b := resultsLimits(t, cfg, 5000, 2)
	diff := float64(a.CriticalPath.P99-b.CriticalPath.P99) / float64(a.CriticalPath.P99)
	if diff < 0 {
		diff = -diff
	}
	if diff > 2*max(a.Uncertainty, b.Uncertainty) {
		t.Errorf("p99 %v with seed 1, %v with seed 2: %.2f%% apart, the stated uncertainty is ±%.2f%%",
			a.CriticalPath.P99, b.CriticalPath.P99, 100*diff, 100*max(a.Uncertainty, b.Uncertainty))
	}
	fixed := resultsLimits(t, nil, 5000, 1)
	if fixed.Uncertainty != 0 || !fixed.Fixed {
		t.Errorf("fixed models: uncertainty %v, want 0", fixed.Uncertainty)
	}
}

// TestHedgedLimits checks that a hedged call's latency is modelled as the
// first of the original and a duplicate sent at the delay: under a heavy
// tail (on results only), hedging the results call at its p95 lowers the
// critical path's p99 well below the unhedged one, and leaves the median
// alone.
func TestHedgedLimits(t *testing.T) {
	cfg := model.Config{}
	for s, m := range map[string]string{"experiments": "fixed:5ms", "layers": "fixed:5ms", "projects": "fixed:5ms", "results": "lognormal:p50=40ms,p99=400ms"} {
		l, err := model.ParseLatency(m)
		if err != nil {
			t.Fatal(err)
		}
		cfg[s] = model.Service{Latency: &l}
	}
	plain := resultsLimits(t, cfg, 20000, 1)
	o := ops(t)
	spec := o[0].Plan.Calls()
	calls := make([]fanout.CallSpec, 0, len(spec))
	for _, c := range spec {
		s := c.Spec
		if s.Name == "results" {
			s.Policies = map[string]any{"hedge": &fanout.HedgeSpec{Quantile: 0.95, Max: 1}}
		}
		calls = append(calls, s)
	}
	p, err := fanout.Compile("getExperimentResults", calls, []string{"experiment_id"})
	if err != nil {
		t.Fatal(err)
	}
	op := o[0]
	op.Plan = p
	hedged, err := Compute([]Weighted{{Op: op, Weight: 1}}, cfg, 20000, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("critical path p99: %v plain, %v hedged", plain.CriticalPath.P99, hedged.CriticalPath.P99)
	if float64(hedged.CriticalPath.P99) > 0.8*float64(plain.CriticalPath.P99) {
		t.Errorf("hedged p99 %v, want well below the plain %v", hedged.CriticalPath.P99, plain.CriticalPath.P99)
	}
	if r := float64(hedged.CriticalPath.P50) / float64(plain.CriticalPath.P50); r < 0.9 || r > 1.02 {
		t.Errorf("hedged p50 %v against plain %v: hedging at p95 should barely move the median", hedged.CriticalPath.P50, plain.CriticalPath.P50)
	}
}
