package harness

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/bench/launch"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// childCPUs watches the child processes of this one and records the CPUs
// each program (by the base name of its binary, without the content hash)
// ran on.
type childCPUs struct {
	mu   sync.Mutex
	seen map[string][]int
}

func (c *childCPUs) watch(ctx context.Context) {
	for ctx.Err() == nil {
		tasks, _ := filepath.Glob("/proc/self/task/*/children")
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(b)) {
				pid, err := strconv.Atoi(field)
				if err != nil {
					continue
				}
				exe, err := os.Readlink("/proc/" + field + "/exe")
				if err != nil {
					continue
				}
				name, _, _ := strings.Cut(filepath.Base(exe), "-")
				threads, err := launch.ThreadCPUs(pid)
				if err != nil {
					continue
				}
				c.mu.Lock()
				for _, cpus := range threads {
					c.seen[name] = cpus
				}
				c.mu.Unlock()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunSplitsTheCPUs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the mock backends")
	}
	cpus, err := launch.AvailableCPUs()
	if err != nil {
		t.Fatal(err)
	}
	want := launch.PlanSplit(cpus)
	if !want.On() {
		t.Skipf("%d CPUs: nothing to split", len(cpus))
	}
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [concurrent]}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 0s, duration: 1s, rates: [300]}
`), "split.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "split"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := &childCPUs{seen: map[string][]int{}}
	var wg sync.WaitGroup
	wg.Go(func() { watch.watch(ctx) })
	outs, err := Run(ctx, []*scenario.Scenario{s}, Options{Out: t.TempDir(), Logs: io.Discard})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(outs[0].Dir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env result.Env
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if env.Split == nil || !slices.Equal(env.Split.Gateway, want.Gateway) || !slices.Equal(env.Split.Load, want.Load) || env.Split.GatewayProcs != len(want.Gateway) {
		t.Errorf("env.json's split %+v, want %+v", env.Split, want)
	}
	// Each program ran where the split put it.
	if got := watch.seen["gateway"]; !slices.Equal(got, want.Gateway) {
		t.Errorf("the gateway ran on %v, want %v", got, want.Gateway)
	}
	// The floor, the gateway's yardstick, runs where the gateway does.
	if got := watch.seen["floor"]; !slices.Equal(got, want.Gateway) {
		t.Errorf("the floor ran on %v, want %v", got, want.Gateway)
	}
	if got := watch.seen["mockbackends"]; !slices.Equal(got, want.Load) {
		t.Errorf("the mocks ran on %v, want %v", got, want.Load)
	}
	// The load side's CPU is measured, and this process is unpinned again.
	run := outs[0].Result.Runs[0]
	if run.MocksCPU <= 0 || run.MocksCPUShare <= 0 || run.GeneratorCPUShare <= 0 {
		t.Errorf("load side's CPU: mocks %v (share %.3f), generator share %.3f; want some of each", run.MocksCPU, run.MocksCPUShare, run.GeneratorCPUShare)
	}
	threads, err := launch.ThreadCPUs(0)
	if err != nil {
		t.Fatal(err)
	}
	for tid, got := range threads {
		if !slices.Equal(got, cpus) {
			t.Errorf("after Run, thread %d still runs on %v, want %v", tid, got, cpus)
		}
	}
}

func TestSaturated(t *testing.T) {
	for _, tc := range []struct {
		generator, mocks, wait float64
		want                   bool
	}{
		{0.95, 0, 0, true},    // the generator alone used its CPUs
		{0.5, 0.45, 0, true},  // generator and mocks together
		{0.2, 0.2, 0.6, true}, // little used, much waited for: other processes had the CPU
		{0.3, 0.3, 0.1, false},
	} {
		if got := Saturated(tc.generator, tc.mocks, tc.wait); got != tc.want {
			t.Errorf("Saturated(%v, %v, %v) = %v, want %v", tc.generator, tc.mocks, tc.wait, got, tc.want)
		}
	}
}
