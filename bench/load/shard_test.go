package load

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// shardOf encodes n results of one latency, sent at rate from start, as a
// generator's results file.
func shardOf(t *testing.T, start time.Time, n int, rate float64, latency time.Duration, path string) Shard {
	t.Helper()
	var b bytes.Buffer
	enc := vegeta.NewEncoder(&b)
	for i := range n {
		at := start.Add(time.Duration(float64(i+1) / rate * float64(time.Second)))
		r := vegeta.Result{Attack: "a", Seq: uint64(i), Code: 200, Timestamp: at, Latency: latency,
			Method: "GET", URL: "http://gw:8080" + path, Headers: http.Header{}}
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
	}
	return Shard{Start: start, Results: &b, CPU: 100 * time.Millisecond, CPUShare: 0.1}
}

func TestMergeTakesPercentilesOfTheMergedResults(t *testing.T) {
	// Two shards of 100 req/s for 10 s, one answered in 10 ms, the other
	// in 100 ms, started 300 ms apart as on two hosts.
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	targets := []Target{{Name: "page", Path: "/v2/experiments/{id}/results", IDs: IDRange{Min: 1, Max: 9}, Weight: 1},
		{Name: "project", Path: "/v2/projects/{id}", IDs: IDRange{Min: 1, Max: 9}, Weight: 1}}
	a := Attack{Name: "a", Rate: 200, Duration: 10 * time.Second, Targets: targets}
	var out bytes.Buffer
	a.Out = &out
	rep, err := Merge(a, []Shard{
		shardOf(t, t0, 1000, 100, 10*time.Millisecond, "/v2/experiments/7/results"),
		shardOf(t, t0.Add(300*time.Millisecond), 1000, 100, 100*time.Millisecond, "/v2/projects/3"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The median of the merged latencies is one of them; averaging the
	// shards' medians would give 55 ms, a latency no request had. Their
	// p99 is the slow shard's, where averaging would halve it.
	if rep.Latency.P50 != 10*time.Millisecond && rep.Latency.P50 != 100*time.Millisecond {
		t.Errorf("p50 %v: not a latency of the merged results", rep.Latency.P50)
	}
	if rep.Latency.P99 != 100*time.Millisecond || rep.Requests != 2000 || rep.Generators != 2 {
		t.Errorf("p99 %v of %d requests from %d generators, want 100ms of 2000 from 2", rep.Latency.P99, rep.Requests, rep.Generators)
	}
	// Each shard's offsets count from its own start: the merged rate is
	// the attack's, though the second shard started 300 ms later.
	if rep.Rate < 199 || rep.Rate > 201 || rep.Offered != 200 || rep.Limited(rep.Offered) {
		t.Errorf("rate %.1f of %.1f offered, want 200", rep.Rate, rep.Offered)
	}
	if p, q := rep.Targets["page"], rep.Targets["project"]; p.Requests != 1000 || q.Requests != 1000 || q.Latency.P50 != 100*time.Millisecond {
		t.Errorf("by target: page %d, project %d (p50 %v)", p.Requests, q.Requests, q.Latency.P50)
	}
	if rep.GeneratorCPU != 200*time.Millisecond || rep.GeneratorCPUShare != 0.1 {
		t.Errorf("generator CPU %v (share %.2f), want the sum and the busiest share", rep.GeneratorCPU, rep.GeneratorCPUShare)
	}
	// The merged results file holds them all, in the order they were sent.
	dec := vegeta.NewDecoder(&out)
	n := 0
	var last time.Duration = -1
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			break
		}
		n++
		off := r.Timestamp.Sub(t0)
		if r.Latency == 100*time.Millisecond {
			off -= 300 * time.Millisecond
		}
		if off < last {
			t.Fatalf("result %d out of order", n)
		}
		last = off
	}
	if n != 2000 {
		t.Errorf("%d results in the merged file, want 2000", n)
	}
}

func TestShareSplitsTheRates(t *testing.T) {
	a := Attack{Rate: 300, PhaseRates: []float64{600, 0}, Seed: 7, Generators: 3}
	seeds := map[uint64]bool{}
	for i := range 3 {
		s := a.Share(i, 3)
		if s.Rate != 100 || s.PhaseRates[0] != 200 || s.PhaseRates[1] != 0 || s.Generators != 0 {
			t.Errorf("share %d: rate %v, phase rates %v, generators %d", i, s.Rate, s.PhaseRates, s.Generators)
		}
		seeds[s.Seed] = true
	}
	if len(seeds) != 3 || a.PhaseRates[0] != 600 {
		t.Errorf("seeds %v, the attack's phase rates %v: want a seed per share, the attack untouched", seeds, a.PhaseRates)
	}
}

func TestRunShardsFiresEventsOnce(t *testing.T) {
	fired := 0
	a := Attack{Name: "a", Rate: 30, Duration: 300 * time.Millisecond, Targets: []Target{{Name: "x", Path: "/x", Weight: 1}},
		Phases: []time.Duration{100 * time.Millisecond}, PhaseNames: []string{"before", "after"}, At: func(int) { fired++ },
		Generators: 3, Spawn: func(_ context.Context, i int, s Attack) (Shard, error) {
			time.Sleep(s.Duration)
			return shardOf(t, time.Now().Add(-s.Duration), 3, s.Rate, time.Millisecond, "/x"), nil
		}}
	rep, err := Run(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if fired != 1 || rep.Requests != 9 || rep.Generators != 3 {
		t.Errorf("events fired %d times, %d requests from %d generators; want once, 9 from 3", fired, rep.Requests, rep.Generators)
	}
}
