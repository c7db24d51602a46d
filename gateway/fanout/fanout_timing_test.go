package fanout

import (
	"context"
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// widePlan has one primary call and width-1 calls that need a field of it,
// the shape of an aggregate that fans out around one resource.
func widePlan(tb testing.TB, width int) *Plan {
	tb.Helper()
	calls := []CallSpec{{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"}}
	for i := 1; i < width; i++ {
		calls = append(calls, CallSpec{Name: "part" + strconv.Itoa(i), Backend: "layers", Path: "/layers/{experiment.layer_id}/parts/" + strconv.Itoa(i)})
	}
	return mustCompile(tb, "wide", calls, []string{"experiment_id"})
}

func BenchmarkExecute(b *testing.B) {
	params := ParamMap{"experiment_id": "42"}
	for _, mode := range Modes {
		b.Run(mode, func(b *testing.B) {
			e := newExecutor(b, mode, Options{})
			for _, width := range []int{1, 4, 16} {
				p := widePlan(b, width)
				b.Run(fmt.Sprintf("with %d calls", width), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						e.Execute(b.Context(), p, params, instantDoer{}).Release()
					}
				})
			}
		})
	}
	b.Run("results plan", func(b *testing.B) {
		p := compileResults(b)
		e := newExecutor(b, ModeConcurrent, Options{})
		b.ReportAllocs()
		for b.Loop() {
			e.Execute(b.Context(), p, params, instantDoer{}).Release()
		}
	})
}

func BenchmarkExpand(b *testing.B) {
	tmpl, err := parseTemplate("/projects/{experiment.project_id}/settings?experiment={experiment_id}")
	if err != nil {
		b.Fatal(err)
	}
	for i := range tmpl.segs {
		tmpl.segs[i].slot = 0
	}
	vals := []value{{text: []byte("3")}}
	params := ParamMap{"experiment_id": "42"}
	var buf [128]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.expand(buf[:0], params, vals); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	// A mock backend's results body, 3.3 KB: most of what the engine
	// scans for a results page.
	results, err := os.ReadFile("testdata/results.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		body   []byte
		fields []string
	}{
		{"experiment", bodies["experiments"], []string{"layer_id", "project_id"}},
		{"results", results, []string{"experiment_id", "id"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			vals := make([]value, len(c.fields))
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				extract(c.body, c.fields, vals)
			}
			if vals[0].why != present {
				b.Fatalf("%s: %v", c.fields[0], vals[0].why)
			}
		})
	}
}

// TestConcurrentAllocs guards the hot path: a steady-state Execute allocates
// one goroutine closure per call sent concurrently and one string per
// expanded path, and little else. The bounds are loose on purpose; they catch
// a regression like a map or a channel per request.
func TestConcurrentAllocs(t *testing.T) {
	params := ParamMap{"experiment_id": "42"}
	e := newExecutor(t, ModeConcurrent, Options{})
	for _, tc := range []struct {
		name  string
		plan  *Plan
		bound float64
	}{
		{"the results plan: 4 paths, 4 goroutines", compileResults(t), 16},
		{"one call runs inline: its path only", widePlan(t, 1), 3},
	} {
		allocs := testing.AllocsPerRun(200, func() {
			e.Execute(t.Context(), tc.plan, params, instantDoer{}).Release()
		})
		t.Logf("%s: %.1f allocs", tc.name, allocs)
		if allocs > tc.bound {
			t.Errorf("%s: %.1f allocs per Execute, want at most %.0f", tc.name, allocs, tc.bound)
		}
	}
}

// TestPoolAllocs checks that a pool whose slots suffice costs no allocation
// more than the concurrent mode: a call that finds a free slot takes it
// under a lock, and Execute watches ctx only once a call of its run waits.
//
// AllocsPerRun counts the whole process's allocations, and the goroutines
// of a run end after it returns: on a busy machine one of them may still
// be running, or the runtime may need a new goroutine instead of reusing
// an old one, so a single count moves by one either way. Each mode is
// therefore measured five times, alternately, and the medians compared.
func TestPoolAllocs(t *testing.T) {
	params := ParamMap{"experiment_id": "42"}
	// Slots for a run of the widest plan and the stragglers of the run
	// before it: a goroutine gives its slot back just after its result is
	// delivered, so a run with exactly enough slots could wait for one.
	pool := newExecutor(t, ModePool, Options{PoolSize: 64})
	concurrent := newExecutor(t, ModeConcurrent, Options{})
	const trials = 5
	for _, p := range []*Plan{compileResults(t), widePlan(t, 4), widePlan(t, 16)} {
		var allocs [2][trials]float64
		for i := range trials {
			for k, e := range []Executor{pool, concurrent} {
				allocs[k][i] = testing.AllocsPerRun(100, func() {
					e.Execute(t.Context(), p, params, instantDoer{}).Release()
				})
			}
		}
		med := func(xs [trials]float64) float64 { slices.Sort(xs[:]); return xs[trials/2] }
		pm, cm := med(allocs[0]), med(allocs[1])
		t.Logf("%d calls: pool %v allocs, concurrent %v; medians %.1f and %.1f", len(p.calls), allocs[0], allocs[1], pm, cm)
		if pm > cm {
			t.Errorf("%d calls: pool %.1f allocs per Execute (median), more than concurrent's %.1f", len(p.calls), pm, cm)
		}
	}
}

// TestRunContextsAllocateNothing checks that what a request's contexts
// cost the engine does not grow with them: a run under a cancelable
// context with a deadline, as the server's, whose calls each have a
// timeout, allocates no more than a run under context.Background whose
// calls have none. Neither the run's abort context nor a call's timeout
// arms a timer or registers a child unless a policy waits on its Done (see
// lazyctx). The medians of five alternate counts are compared, as in
// TestPoolAllocs.
func TestRunContextsAllocateNothing(t *testing.T) {
	params := ParamMap{"experiment_id": "42"}
	e := newExecutor(t, ModeConcurrent, Options{})
	timed := slices.Clone(resultsCalls)
	for i := range timed {
		timed[i].Timeout = time.Minute
	}
	withTimeouts, err := Compile("timed", timed, resultsParams)
	if err != nil {
		t.Fatal(err)
	}
	plain := compileResults(t)
	deadline, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	const trials = 5
	var allocs [2][trials]float64
	for i := range trials {
		allocs[0][i] = testing.AllocsPerRun(100, func() {
			e.Execute(deadline, withTimeouts, params, instantDoer{}).Release()
		})
		allocs[1][i] = testing.AllocsPerRun(100, func() {
			e.Execute(context.Background(), plain, params, instantDoer{}).Release()
		})
	}
	med := func(xs [trials]float64) float64 { slices.Sort(xs[:]); return xs[trials/2] }
	if tm, pm := med(allocs[0]), med(allocs[1]); tm > pm {
		t.Errorf("timeouts under a deadline: %.1f allocs per Execute (median of %v), more than %.1f without (%v)", tm, allocs[0], pm, allocs[1])
	}
}

// TestCallGoroutinesStartGrown checks that a call sent from a goroutine of
// its own finds a stack that a deep call fits in, so that the stack is not
// copied (each copy walks every frame) while the call is under way. A
// stack that grows moves: a local variable's address changes across a
// call that needs more stack than there is, which is what the Doer looks
// for. Execute's own goroutine is grown first, so that the calls it sends
// itself find room too.
func TestCallGoroutinesStartGrown(t *testing.T) {
	var moved atomic.Int32
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		var x byte
		before := uintptr(unsafe.Pointer(&x))
		deepCall()
		if uintptr(unsafe.Pointer(&x)) != before {
			moved.Add(1)
		}
		return instantDoer{}.Do(ctx, backend, method, path)
	})
	deepCall()
	e := newExecutor(t, ModeConcurrent, Options{})
	p := widePlan(t, 8)
	for range 20 {
		e.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, d).Release()
	}
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	t.Logf("goroutines start with %d bytes of stack", start[0].Value.Uint64())
	if n := moved.Load(); n > 0 {
		t.Errorf("%d of %d calls had their stack moved while in the Doer", n, 20*8)
	}
}

// deepCall needs the stack that a call through the policies, the backend
// client and fasthttp needs, about 8 KiB.
//
//go:noinline
func deepCall() {
	var frame [8 << 10]byte
	touchFrame(frame[:])
}

// touchFrame keeps deepCall's frame, which would otherwise be optimised
// away.
//
//go:noinline
func touchFrame(b []byte) { b[0] = 1 }
