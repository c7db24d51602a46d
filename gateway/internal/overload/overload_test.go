package overload

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

func newTestLimiter(t *testing.T, s Settings) *Limiter {
	t.Helper()
	l, err := newLimiter(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Signals of the table tests: each names what the gateway is doing.
var (
	// idle: a run queue of microseconds on CPUs mostly idle, whatever
	// the backends do.
	idle = Signal{Queue: 50 * time.Microsecond, Busy: 0.05}
	// crowded: another process takes the machine; the gateway's
	// goroutines wait for a CPU, but the gateway uses little of its own.
	crowded = Signal{Queue: 40 * time.Millisecond, Busy: 0.1}
	// saturated: the gateway's CPUs are busy and its goroutines queue
	// for them ten times longer than the target.
	saturated = Signal{Queue: 10 * DefaultTarget, Busy: 0.95}
	// knee: busy CPUs, a run queue just within the target.
	knee = Signal{Queue: DefaultTarget / 2, Busy: 0.9}
	// sharing: work that yields every few microseconds, more than the
	// CPUs compute: each wait is short, but many goroutines wait on full
	// CPUs, and every request's work stretches.
	sharing = Signal{Queue: DefaultTarget / 4, Depth: 10 * DefaultDepth, Busy: 0.99}
	// wakeups: goroutines that wake together on CPUs with room to spare:
	// as many waits, no saturation.
	wakeups = Signal{Queue: DefaultTarget / 4, Depth: 10 * DefaultDepth, Busy: DefaultFull - 0.2}
)

// hold admits n requests and keeps them in progress; the returned func
// releases them.
func hold(t *testing.T, l *Limiter, n int) func() {
	t.Helper()
	for i := range n {
		if !l.Acquire(Sheddable) {
			t.Fatalf("request %d of %d shed at limit %d", i+1, n, l.Limit())
		}
	}
	return func() {
		for range n {
			l.Release()
		}
	}
}

// TestSheddingOrder: at the limit, reads are shed first; writes are
// admitted up to the headroom beyond it, then shed too; a release admits
// again.
func TestSheddingOrder(t *testing.T) {
	l := newTestLimiter(t, Settings{Min: 20, Max: 20, Headroom: 0.1})
	for i := range 20 {
		if !l.Acquire(Sheddable) {
			t.Fatalf("read %d shed under the limit", i+1)
		}
	}
	if l.Acquire(Sheddable) {
		t.Fatal("read admitted beyond the limit")
	}
	for i := range 2 {
		if !l.Acquire(Critical) {
			t.Fatalf("write %d shed within the headroom", i+1)
		}
	}
	if l.Acquire(Critical) {
		t.Fatal("write admitted beyond the headroom")
	}
	if l.Shed(Sheddable) != 1 || l.Shed(Critical) != 1 {
		t.Errorf("shed %d reads and %d writes, want 1 and 1", l.Shed(Sheddable), l.Shed(Critical))
	}
	for range 3 {
		l.Release()
	}
	if !l.Acquire(Sheddable) {
		t.Error("read shed after the releases brought in-flight under the limit")
	}
	if got := l.InFlight(); got != 20 {
		t.Errorf("in flight %d, want 20", got)
	}
}

// TestNotSaturatedNeverBinds: however many requests are in progress, and
// however long they take, a gateway whose own CPUs are not saturated sheds
// nothing: many requests waiting on a slow backend, or a run queue made
// long by another process on idle CPUs, are not its overload.
func TestNotSaturatedNeverBinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  Signal
	}{
		// A slow backend: thousands of requests in progress, the gateway
		// idle.
		{"slow backend", idle},
		// The machine crowded by another process: shedding would not
		// give the gateway its CPUs back.
		{"crowded machine", crowded},
		// Busy CPUs with a short run queue: used, not saturated.
		{"busy within the target", knee},
		// Many short waits on CPUs with room to spare.
		{"goroutines waking together", wakeups},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLimiter(t, Settings{})
			release := hold(t, l, 5000)
			for range 50 {
				l.adapt(tc.sig)
			}
			if l.Limit() != DefaultMax {
				t.Errorf("limit %d after 50 windows of %+v with 5000 in progress, want the max %d", l.Limit(), tc.sig, DefaultMax)
			}
			more := hold(t, l, 5000)
			release()
			more()
			if l.Shed(Sheddable) != 0 {
				t.Errorf("%d shed", l.Shed(Sheddable))
			}
		})
	}
}

// TestSaturationShrinksThenLetsGo: once saturated, the limit falls below
// what was in progress (at most by half a window), down to Min; when the
// run queue is short again and the limit in use, it grows by less than
// its own size per window; once nothing comes near it, it is let go, back
// to Max within a few windows.
func TestSaturationShrinksThenLetsGo(t *testing.T) {
	l := newTestLimiter(t, Settings{Min: 4})
	release := hold(t, l, 200)
	l.adapt(saturated)
	if got := l.Limit(); got < 100 || got >= 200 {
		t.Fatalf("limit %d after one saturated window with 200 in progress, want from half of it to less than it", got)
	}
	if l.Acquire(Sheddable) {
		t.Fatal("a read admitted beyond the limit of a saturated gateway")
	}
	for range 20 {
		l.adapt(saturated)
	}
	if l.Limit() != 4 {
		t.Fatalf("limit %d after 20 saturated windows, want the min 4", l.Limit())
	}
	release()

	// The run queue short again and the limit in use: probing, by less
	// than doubling.
	before := l.Limit()
	hold(t, l, int(before))()
	l.adapt(knee)
	if got := l.Limit(); got <= before || got >= 2*before {
		t.Fatalf("limit %d after a used window within the target, from %d: want it grown, by less than double", got, before)
	}

	// Nothing near it: let go, back to the max.
	for range 30 {
		l.adapt(idle)
	}
	if l.Limit() != DefaultMax {
		t.Errorf("limit %d after 30 idle windows, want the max %d", l.Limit(), DefaultMax)
	}
}

// TestSharingSaturates: work that shares full CPUs in small slices keeps
// the run queue's p99 within the target however much of it there is;
// the number of goroutines waiting says it, and the limit falls as it
// does for a long run queue.
func TestSharingSaturates(t *testing.T) {
	l := newTestLimiter(t, Settings{})
	defer hold(t, l, 200)()
	l.adapt(sharing)
	if got := l.Limit(); got < 100 || got >= 200 {
		t.Errorf("limit %d after a window of %+v with 200 in progress, want from half of it to less than it", got, sharing)
	}
}

// TestGradient: a run queue just past the target shrinks the limit a
// little, one far past it by half: the limit settles near the knee rather
// than swinging from full to half.
func TestGradient(t *testing.T) {
	shrink := func(q time.Duration) float64 {
		l := newTestLimiter(t, Settings{})
		defer hold(t, l, 100)()
		l.adapt(Signal{Queue: q, Busy: 1})
		return float64(l.Limit()) / 100
	}
	near, far := shrink(DefaultTarget*11/10), shrink(100*DefaultTarget)
	if near < 0.85 || near >= 1 {
		t.Errorf("a run queue 10 %% past the target left %.2f of the limit, want from 0.85 to less than 1", near)
	}
	if far != 0.5 {
		t.Errorf("a run queue 100 times the target left %.2f of the limit, want 0.5", far)
	}
}

// TestSettings: bounds out of range are refused.
func TestSettings(t *testing.T) {
	for _, s := range []Settings{
		{Min: 10, Max: 5}, // min above max
		{Busy: 1.5},       // more than every CPU
		{Min: -1},         // negative
		{Target: -1},      // negative
		{Window: -time.Second},
		{Depth: -1},
		{Full: 1.1},
		{Poll: -time.Millisecond},
	} {
		if _, err := New(s); err == nil {
			t.Errorf("settings %+v accepted", s)
		}
	}
}

// TestMaxAlone: a Max under the default Min caps the limit from the
// start, and the floor follows it down.
func TestMaxAlone(t *testing.T) {
	l := newTestLimiter(t, Settings{Max: 4})
	defer hold(t, l, 4)()
	if l.Acquire(Sheddable) {
		t.Errorf("a fifth read admitted under a max of 4")
	}
	l.adapt(saturated)
	if l.Limit() != 4 {
		t.Errorf("limit %d after a saturated window, want the max 4, which is also the floor", l.Limit())
	}
}

// TestQuantile reads quantiles off histograms shaped as the runtime's.
func TestQuantile(t *testing.T) {
	ms := func(v float64) float64 { return v / 1000 }
	buckets := []float64{math.Inf(-1), 0, ms(1), ms(2), ms(4), ms(8), math.Inf(1)}
	for _, tc := range []struct {
		name   string
		counts []uint64
		q      float64
		want   time.Duration
	}{
		{"empty", []uint64{0, 0, 0, 0, 0, 0}, 0.99, 0},
		// 99 of 100 waits under 1 ms: the p99 is in the first bucket.
		{"short queue", []uint64{0, 99, 1, 0, 0, 0}, 0.99, 0},
		// 2 of 100 from 4 to 8 ms: the p99 is there.
		{"tail", []uint64{0, 90, 5, 3, 2, 0}, 0.99, 4 * time.Millisecond},
		{"median", []uint64{0, 10, 50, 40, 0, 0}, 0.5, time.Millisecond},
		// Beyond the last finite bound: its lower bound.
		{"overflow", []uint64{0, 0, 0, 0, 0, 10}, 0.99, 8 * time.Millisecond},
	} {
		if got := quantile(tc.counts, buckets, tc.q); got != tc.want {
			t.Errorf("%s: quantile %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSamplerSeesSaturation: the sampler reads a gateway whose one CPU is
// kept busy by more goroutines than it runs as busy, with a run queue
// past the target; and the same process at rest as not busy.
func TestSamplerSeesSaturation(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s, err := newSampler()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // at rest: nothing to measure but the wait
	rest := s.read(time.Now())

	stop := takeTurns(8, 500*time.Microsecond)
	time.Sleep(300 * time.Millisecond)
	loaded := s.read(time.Now())
	stop()
	t.Logf("at rest %+v, loaded %+v", rest, loaded)
	if rest.Busy >= DefaultBusy {
		t.Errorf("busy %.2f at rest, want under %.2f", rest.Busy, DefaultBusy)
	}
	// Eight goroutines taking turns on one CPU by slices of 500 µs wait
	// about 3.5 ms each time, well past half the target.
	if loaded.Queue < DefaultTarget/2 {
		t.Errorf("run queue p99 %v with 8 goroutines spinning on one CPU, want at least %v", loaded.Queue, DefaultTarget/2)
	}
	// As many goroutines waiting at every moment as there are, less the
	// one running: about 7, counted at the lower bounds of their buckets.
	if loaded.Depth < 3 || rest.Depth > 1 {
		t.Errorf("goroutines waiting %.2f loaded, %.2f at rest: want at least 3 loaded, at most 1 at rest", loaded.Depth, rest.Depth)
	}
	if loaded.Busy <= rest.Busy {
		t.Errorf("busy %.2f loaded, %.2f at rest: want more loaded", loaded.Busy, rest.Busy)
	}
}

// takeTurns starts n goroutines that take turns on the CPUs in slices of
// d, each yielding after its slice, until the returned stop is called,
// which waits for them.
func takeTurns(n int, d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				spin(d)
				runtime.Gosched()
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// spin keeps the CPU busy for about d of wall time.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// TestLimiterAllocations guards what shedding costs every request: no
// allocation to admit and give back.
func TestLimiterAllocations(t *testing.T) {
	l := newTestLimiter(t, Settings{})
	if n := testing.AllocsPerRun(1000, func() {
		if l.Acquire(Sheddable) {
			l.Release()
		}
	}); n != 0 {
		t.Errorf("%v allocations to admit and release a request, want 0", n)
	}
}
