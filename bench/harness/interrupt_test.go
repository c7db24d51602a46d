package harness

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/bench/result"
	"fanout/bench/scenario"
)

// cancelOnLine calls cancel a little after the n-th line containing marker
// is written: the step it announces is then under way.
type cancelOnLine struct {
	mu     sync.Mutex
	marker string
	n      int
	after  time.Duration
	cancel context.CancelFunc
	out    strings.Builder
}

func (c *cancelOnLine) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(p)
	if strings.Contains(string(p), c.marker) {
		if c.n--; c.n == 0 {
			time.AfterFunc(c.after, c.cancel)
		}
	}
	return len(p), nil
}

func (c *cancelOnLine) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func TestInterruptKeepsWhatFinished(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the mock backends")
	}
	s, err := scenario.Decode(strings.NewReader(`
gateway: {modes: [sequential, concurrent]}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 0s, duration: 2s, rates: [20]}
expect: [concurrent.success >= 90%]
`), "two.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "two"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stop one second into the second step's two.
	progress := &cancelOnLine{marker: "+ measure", n: 2, after: time.Second, cancel: cancel}
	out := t.TempDir()
	var wrote bool
	outs, err := Run(ctx, []*scenario.Scenario{s}, Options{Out: out, Progress: progress, Logs: io.Discard, NoFloor: true,
		Write: func(string, *result.Scenario) error { wrote = true; return nil }})
	if err == nil || ctx.Err() == nil {
		t.Fatalf("Run returned %v before the interruption; progress:\n%s", err, progress)
	}
	if len(outs) != 1 {
		t.Fatalf("%d outcomes, want the interrupted scenario's", len(outs))
	}
	dir := outs[0].Dir
	got, err := result.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed == 0 {
		t.Error("summary.json records no seed")
	}
	if !got.Interrupted || len(got.Runs) != 1 || got.Runs[0].Variant != "sequential" || !wrote {
		t.Errorf("summary.json: interrupted %v, runs %d, report written %v; want the one finished step", got.Interrupted, len(got.Runs), wrote)
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	if len(bins) != 1 || filepath.Base(bins[0]) != "sequential-20.bin" {
		t.Errorf("results files %v, want only the finished step's", bins)
	}
	if n := strings.Count(progress.String(), "INTERRUPTED"); n != 1 {
		t.Errorf("%d INTERRUPTED lines in:\n%s", n, progress)
	}
	if _, err := os.Stat(filepath.Join(dir, result.SummaryFile)); err != nil {
		t.Error(err)
	}
}
