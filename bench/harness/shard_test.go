package harness

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// shardScenario is one step at a rate that one generator sends with ease,
// long enough for a p99 of 1,000 requests, against the fixed-latency
// default mocks. Shedding is off: on a busy machine it would refuse a
// varying share of the requests, a noise of the gateway's, not of the
// generators'.
func shardScenario(t *testing.T, generators int) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [concurrent], overload: off}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 1s, duration: 3s, rates: [400], generators: `+itoa(generators)+`}
expect: [concurrent.requests >= 1100]
`), "shards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "shards"
	return s
}

func itoa(n int) string { return load.FormatRate(float64(n)) }

// within reports whether got/want is within a factor of 1+slack either way.
func within(got, want, slack float64) bool {
	return want > 0 && got > 0 && math.Abs(math.Log(got/want)) <= math.Log1p(slack)
}

// noise is how far apart two repeated runs' figures are, as a relative
// change.
func noise(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return math.Inf(1)
	}
	return math.Expm1(math.Abs(math.Log(a / b)))
}

func TestThreeGeneratorsMeasureAsOne(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway, the mock backends and bench")
	}
	ctx := context.Background()
	bench, err := launch.Build(ctx, "./bench")
	if err != nil {
		t.Fatal(err)
	}
	run := func(generators int) result.Run {
		t.Helper()
		// Unsplit: on a machine of two CPUs the split puts three
		// generators and the mocks on one, and on a busy machine their
		// wait for it, not the merge, would decide the figures (such a
		// step is flagged load saturated).
		outs, err := Run(ctx, []*scenario.Scenario{shardScenario(t, generators)}, Options{Out: t.TempDir(), Logs: io.Discard,
			Generator: []string{bench, "attack"}, NoSplit: "the test compares generators, not CPUs", NoFloor: true})
		if err != nil {
			t.Fatal(err)
		}
		res := outs[0].Result
		if res.Floor != nil {
			t.Errorf("NoFloor, yet the floor block ran: %+v", res.Floor)
		}
		if len(res.Runs) != 1 || len(res.Failed()) > 0 {
			t.Fatalf("%d generators: runs %d, failed %+v, errors %v", generators, len(res.Runs), res.Failed(), res.Errors)
		}
		if _, err := os.Stat(filepath.Join(outs[0].Dir, "generators")); !os.IsNotExist(err) {
			t.Errorf("the generators' shard directories were left behind (%v)", err)
		}
		r := res.Runs[0]
		if want := max(generators, 1); max(r.Generators, 1) != want {
			t.Errorf("%d generators reported, want %d", r.Generators, want)
		}
		return r
	}
	// One generator and three, twice, interleaved. A busy machine only
	// ever adds latency and takes throughput, so each side is judged by
	// its better run, and the two runs of one generator measure the noise
	// of repeating a run here.
	var ones, threes []result.Run
	for range 2 {
		ones, threes = append(ones, run(1)), append(threes, run(3))
	}
	for _, f := range []struct {
		name  string
		get   func(result.Run) float64
		best  func(a, b float64) float64
		floor float64 // the least slack, whatever the noise
	}{
		{"p50", func(r result.Run) float64 { return float64(r.Latency.P50) }, math.Min, 0.2},
		{"p99", func(r result.Run) float64 { return float64(r.Latency.P99) }, math.Min, 1},
		{"throughput", func(r result.Run) float64 { return r.Throughput }, math.Max, 0.05},
		{"requests", func(r result.Run) float64 { return float64(r.Requests) }, math.Max, 0.02},
	} {
		one := f.best(f.get(ones[0]), f.get(ones[1]))
		three := f.best(f.get(threes[0]), f.get(threes[1]))
		slack := max(f.floor, 2*noise(f.get(ones[0]), f.get(ones[1])))
		if !within(three, one, slack) {
			t.Errorf("%s: three generators %.4g (runs %.4g, %.4g), one %.4g (runs %.4g, %.4g): beyond %.0f%%", f.name,
				three, f.get(threes[0]), f.get(threes[1]), one, f.get(ones[0]), f.get(ones[1]), 100*slack)
		}
	}
	three := threes[0]
	if three.Requests < 1000 {
		t.Errorf("%d requests from three generators, want the p99 of 1,000 or more", three.Requests)
	}
}

func TestMergeShards(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the mock backends")
	}
	d := startDeployment(t)
	s := shardScenario(t, 1)
	file := filepath.Join(t.TempDir(), "shards.yaml")
	if err := os.WriteFile(file, s.Source, 0o644); err != nil {
		t.Fatal(err)
	}
	s.File = file
	base := t.TempDir()
	dirs := make([]string, 3)
	errs := make([]error, 3)
	warm := 0 * s.Load.Warmup
	var wg sync.WaitGroup
	for i := range dirs {
		dirs[i] = filepath.Join(base, "shard"+itoa(i+1))
		wg.Go(func() {
			errs[i] = RunShard(context.Background(), s, AttackOptions{Shard: i + 1, Of: 3, Target: d.gateway,
				Authorization: launch.Authorization, Out: dirs[i], Warmup: &warm})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Two shards of three understate the load: refused.
	if _, err := MergeShards(context.Background(), dirs[:2], Options{Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "shard 3 missing") {
		t.Errorf("merging 2 of 3 shards: %v", err)
	}
	out, err := MergeShards(context.Background(), dirs, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result.Runs[0]
	if r.Requests < 1150 || !within(r.Summary.Rate, 400, 0.03) || r.Complete < 0.95 || r.Generators != 3 || r.GeneratorLimited {
		t.Errorf("merged: %d requests at %.1f/s, complete %.3f, %d generators, limited %v; want about 1,200 at 400/s from 3",
			r.Requests, r.Summary.Rate, r.Complete, r.Generators, r.GeneratorLimited)
	}
	if len(out.Result.Failed()) > 0 || out.Result.Limits != nil || !strings.Contains(out.Result.LimitsNote, "No limits are known") {
		t.Errorf("failed %+v, limits %v (%q)", out.Result.Failed(), out.Result.Limits, out.Result.LimitsNote)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, r.File)); err != nil {
		t.Errorf("no merged results file: %v", err)
	}
}
