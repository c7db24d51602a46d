package fanout

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stubbornDoer answers its first call only when interrupted (it does not
// watch the call's context, as the gateway's Exchange does not), and every
// later call at once. It counts calls and the ones cut.
type stubbornDoer struct {
	mu      sync.Mutex
	calls   int
	wire    []chan struct{} // the first call's wire, closed by Interrupt
	cut     atomic.Int32
	running atomic.Int32
}

func (d *stubbornDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	d.running.Add(1)
	defer d.running.Add(-1)
	d.mu.Lock()
	d.calls++
	first := d.calls == 1
	var wire chan struct{}
	if first {
		wire = make(chan struct{})
		d.wire = append(d.wire, wire)
	}
	d.mu.Unlock()
	if !first {
		return 200, []byte(`{"attempt":"hedge"}`), nil
	}
	<-wire
	d.cut.Add(1)
	return 0, nil, ctx.Err()
}

// Interrupt cuts the first call if its context is done, as Exchange does.
func (d *stubbornDoer) Interrupt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.wire {
		close(w)
	}
	d.wire = nil
}

// callTo returns a GET call to backend, for a policy tested alone.
func callTo(backend string) *Call {
	return &Call{Spec: CallSpec{Name: backend, Backend: backend, Method: "GET"}}
}

// newHedger returns the Hedger of spec on b, failing the test if it
// cannot.
func newHedger(tb testing.TB, spec HedgeSpec, b *Budget) *Hedger {
	tb.Helper()
	h, err := NewHedger(spec, b)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func budget(t testing.TB, ratio float64) *Budget {
	t.Helper()
	b, err := NewBudget(ratio, HedgeBurst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHedgeCancelsLoser checks that a call slower than the delay gets a
// duplicate, that the duplicate's answer wins and says so, and that the
// first attempt is cut through Interrupt and over before Do returns.
func TestHedgeCancelsLoser(t *testing.T) {
	h := newHedger(t, HedgeSpec{After: 2 * time.Millisecond, Max: 1}, budget(t, 1))
	d := &stubbornDoer{}
	status, body, via, err := h.Do(t.Context(), callTo("results"), "/results/42", Chain(callTo("results"), d))
	if err != nil || status != 200 || !strings.Contains(string(body), "hedge") {
		t.Fatalf("Do = %d %q %v, want the duplicate's 200", status, body, err)
	}
	if via != ViaHedge {
		t.Errorf("via %v, want hedge", via)
	}
	if d.cut.Load() != 1 {
		t.Errorf("%d attempts cut, want the first one", d.cut.Load())
	}
	if n := d.running.Load(); n != 0 {
		t.Errorf("%d attempts still running after Do returned", n)
	}
	if h.Sent() != 1 || h.Won() != 1 {
		t.Errorf("sent %d won %d, want 1 and 1", h.Sent(), h.Won())
	}
}

// TestHedgeThroughExecutor checks that a PolicyDoer routes the hedged call
// of a plan through its Hedger and that the Outcome says the duplicate won.
func TestHedgeThroughExecutor(t *testing.T) {
	p, err := Compile("getExperiment", []CallSpec{
		{Name: "results", Backend: "results", Path: "/results/{experiment_id}"},
	}, resultsParams)
	if err != nil {
		t.Fatal(err)
	}
	h := newHedger(t, HedgeSpec{After: time.Millisecond}, budget(t, 1))
	pd := &PolicyDoer{Next: &stubbornDoer{}, Policies: [][]Policy{{h}}}
	r := newExecutor(t, ModeConcurrent, Options{}).Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, pd)
	defer r.Release()
	if o := r.Outcomes[0]; !o.OK() || o.Via != ViaHedge {
		t.Errorf("outcome %+v, want 200 via hedge", o)
	}
}

// slowFirstDoer answers every call after delay, or at the end of its
// context, counting the calls.
type slowFirstDoer struct {
	delay time.Duration
	calls atomic.Int64
}

func (d *slowFirstDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	d.calls.Add(1)
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return 200, nil, nil
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// TestHedgeBudget checks that the budget caps duplicates at its fraction
// of the calls (plus nothing: the bucket starts empty), that a budget of 0
// turns hedging off, and that it counts the duplicates it refused.
func TestHedgeBudget(t *testing.T) {
	for _, tc := range []struct {
		ratio    float64
		min, max int64
		// minDenied is the least count of refused duplicates.
		minDenied int64
	}{
		{ratio: 0.1, min: 1, max: 10, minDenied: 50}, // 100 slow calls: at most 10 duplicates, the rest refused
		{ratio: 0, min: 0, max: 0, minDenied: 0},     // hedging off: no duplicate asked for, none refused
	} {
		h := newHedger(t, HedgeSpec{After: 100 * time.Microsecond}, budget(t, tc.ratio))
		// 5 ms: the clock launches a duplicate up to 1 ms after its
		// delay, and a loaded machine delays it further.
		d := &slowFirstDoer{delay: 5 * time.Millisecond}
		const calls = 100
		for range calls {
			if _, _, _, err := h.Do(t.Context(), callTo("results"), "/results/1", Chain(callTo("results"), d)); err != nil {
				t.Fatal(err)
			}
		}
		if s := h.Sent(); s < tc.min || s > tc.max {
			t.Errorf("ratio %v: %d duplicates for %d calls, want %d to %d", tc.ratio, s, calls, tc.min, tc.max)
		}
		// Each call slower than the delay asks for one duplicate while
		// hedging is on: what the budget did not allow, it counts as denied.
		if s, dn := h.Sent(), h.budget.Denied(); dn < tc.minDenied || s+dn > calls || (tc.ratio == 0 && dn != 0) {
			t.Errorf("ratio %v: %d duplicates sent and %d denied for %d slow calls, want sent+denied <= %d and denied >= %d",
				tc.ratio, s, dn, calls, calls, tc.minDenied)
		}
		if got := d.calls.Load(); got != calls+h.Sent() {
			t.Errorf("ratio %v: backend saw %d calls, want %d", tc.ratio, got, calls+h.Sent())
		}
	}
}

// TestHedgeLearnsQuantile checks that a learned delay is unknown (no
// hedging) before MinSamples latencies, then near the quantile asked.
func TestHedgeLearnsQuantile(t *testing.T) {
	h := newHedger(t, HedgeSpec{Quantile: 0.95}, budget(t, 0.05))
	for i := range MinSamples - 1 {
		h.observe(time.Duration(i%100+1)*time.Millisecond, false)
	}
	if d, ok := h.Delay(); ok {
		t.Fatalf("delay %v known after %d samples", d, MinSamples-1)
	}
	for i := range 1000 {
		h.observe(time.Duration(i%100+1)*time.Millisecond, false)
	}
	d, ok := h.Delay()
	if !ok {
		t.Fatal("delay still unknown")
	}
	if d < 93*time.Millisecond || d > 97*time.Millisecond {
		t.Errorf("learned p95 %v, want about 95ms", d)
	}
}

// TestHedgeStandsDownWhileNoDuplicateCanWin checks that a learned delay
// sends no duplicate while the call's latencies are too close together
// for one to answer first, and arms again once a call runs past the
// delay plus the fastest latency, whether it answers or fails then; a
// call that fails at once leaves it standing down.
func TestHedgeStandsDownWhileNoDuplicateCanWin(t *testing.T) {
	for _, tc := range []struct {
		name string
		// timeout is the context's deadline for the slow call, 0 for none.
		timeout time.Duration
		doer    Doer
		arms    bool
	}{
		{name: "slow answer", doer: &slowFirstDoer{delay: 30 * time.Millisecond}, arms: true},
		{name: "hang until a deadline", timeout: 20 * time.Millisecond, doer: &slowFirstDoer{delay: time.Hour}, arms: true},
		{name: "failure at once", doer: DoerFunc(func(context.Context, string, string, string) (int, []byte, error) {
			return 0, nil, errExploded
		}), arms: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHedger(t, HedgeSpec{Quantile: 0.95}, budget(t, 1))
			// Latencies from 1 ms to 1.09 ms: a duplicate after the p95
			// would answer after 2 ms at the earliest, later than any.
			tight := func(n int) {
				for i := range n {
					h.observe(time.Millisecond+time.Duration(i%10)*10*time.Microsecond, false)
				}
			}
			tight(2 * MinSamples)
			if _, ok := h.Delay(); !ok {
				t.Fatal("no delay learned")
			}
			if d, armed := h.Armed(); armed {
				t.Fatalf("armed at %v over latencies from 1 to 1.09 ms", d)
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			h.Do(ctx, callTo("results"), "/results/1", Chain(callTo("results"), tc.doer))
			if s := h.Sent(); s != 0 {
				t.Fatalf("%d duplicates sent while standing down", s)
			}
			// The delay is read again every refresh latencies.
			tight(refresh)
			if _, armed := h.Armed(); armed != tc.arms {
				t.Fatalf("armed %v after the call, want %v", armed, tc.arms)
			}
			if !tc.arms {
				return
			}
			d := &stubbornDoer{}
			status, _, via, err := h.Do(t.Context(), callTo("results"), "/results/1", Chain(callTo("results"), d))
			if err != nil || status != 200 || via != ViaHedge || h.Sent() != 1 {
				t.Errorf("Do = %d via %v, %v, %d sent; want the duplicate's 200", status, via, err, h.Sent())
			}
		})
	}
}

// TestHedgeWonDuplicateKeepsHedging checks that a duplicate that won
// keeps hedging armed for the window, whatever the latencies say: the
// time it won at is only a bound of the first attempt's.
func TestHedgeWonDuplicateKeepsHedging(t *testing.T) {
	h := newHedger(t, HedgeSpec{Quantile: 0.95}, budget(t, 1))
	for i := range 2 * MinSamples {
		h.observe(time.Millisecond+time.Duration(i%10)*10*time.Microsecond, false)
	}
	if _, armed := h.Armed(); armed {
		t.Fatal("armed over latencies from 1 to 1.09 ms")
	}
	h.observe(1050*time.Microsecond, true)
	for range refresh {
		h.observe(time.Millisecond, false)
	}
	if _, armed := h.Armed(); !armed {
		t.Error("standing down in the window a duplicate won in")
	}
}

// TestHedgeFirstFailureWaitsForOther checks that an attempt that fails is
// not the answer while a duplicate may still answer.
func TestHedgeFirstFailureWaitsForOther(t *testing.T) {
	h := newHedger(t, HedgeSpec{After: time.Millisecond}, budget(t, 1))
	// The first attempt fails once the duplicate is out, and the
	// duplicate answers once the first attempt has failed: the order is
	// the test's, not the clock's.
	var n atomic.Int32
	dupOut, firstFailed := make(chan struct{}), make(chan struct{})
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if n.Add(1) == 1 {
			<-dupOut
			close(firstFailed)
			return 0, nil, errExploded
		}
		close(dupOut)
		<-firstFailed
		return 200, nil, nil
	})
	if status, _, via, err := h.Do(t.Context(), callTo("results"), "/", Chain(callTo("results"), d)); err != nil || status != 200 || via != ViaHedge {
		t.Errorf("Do = %d %v %v, want the duplicate's 200", status, via, err)
	}
}

// quickDoer answers every call at once, with quickBody.
type quickDoer struct{}

var quickBody = []byte(`{}`)

func (quickDoer) Do(context.Context, string, string, string) (int, []byte, error) {
	return 200, quickBody, nil
}

// withinDelay returns a Hedger whose calls answer at once, long before
// its delay, and a func that makes one such call.
func withinDelay(tb testing.TB) (*Hedger, func() error) {
	h := newHedger(tb, HedgeSpec{After: time.Minute}, budget(tb, 1))
	call := callTo("results")
	next := Chain(call, quickDoer{})
	ctx := context.Background()
	return h, func() error {
		_, _, _, err := h.Do(ctx, call, "/r", next)
		return err
	}
}

// TestHedgedCallWithinDelayAllocatesNothing: a hedged call that answers
// before its delay, nearly every hedged call, costs no goroutine, channel,
// timer or context: the first attempt runs on the caller's goroutine.
func TestHedgedCallWithinDelayAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("the race detector allocates")
	}
	h, do := withinDelay(t)
	if n := testing.AllocsPerRun(200, func() {
		if err := do(); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Errorf("a hedged call answered within its delay allocates %.1f times, want 0", n)
	}
	if h.Sent() != 0 {
		t.Errorf("%d duplicates sent for calls that answered within the delay", h.Sent())
	}
}

// BenchmarkHedgedCallWithinDelay is the cost of hedging a call that
// answers before its delay.
func BenchmarkHedgedCallWithinDelay(b *testing.B) {
	_, do := withinDelay(b)
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}

// TestHedgeClockWakesPerGrain: calls that answer just before their delay,
// as nearly all hedged calls do, start many a millisecond: the Hedger's
// clock wakes at most once per grain (the delay) for all of
// them, where a timer per call woke once per call.
func TestHedgeClockWakesPerGrain(t *testing.T) {
	const delay = 50 * time.Millisecond
	h := newHedger(t, HedgeSpec{After: delay}, budget(t, 1))
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		time.Sleep(delay * 9 / 10)
		return 200, nil, nil
	})
	const calls = 200
	start := time.Now()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if _, _, _, err := h.Do(t.Context(), callTo("results"), "/r", Chain(callTo("results"), d)); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(500 * time.Microsecond)
	}
	wg.Wait()
	took := time.Since(start)
	sweeps := h.clock.sweeps.Load()
	// At most one wake per grain over the run, and one more to spare.
	most := int64(took/delay) + 2
	t.Logf("%d calls over %v: %d sweeps (at most %d), %d duplicates", calls, took, sweeps, most, h.Sent())
	if sweeps > most || sweeps >= calls/2 {
		t.Errorf("%d sweeps for %d calls over %v, want at most one per grain (%d) and far fewer than calls", sweeps, calls, took, most)
	}
}

// TestHedgeMaxDuplicates: a call that answers to none of its attempts but
// the last gets Max duplicates, each a delay after the one before, and the
// last one's answer.
func TestHedgeMaxDuplicates(t *testing.T) {
	const delay = 5 * time.Millisecond
	b := budget(t, 1)
	for range 3 { // the call's own deposit pays for one duplicate
		b.Deposit()
	}
	h := newHedger(t, HedgeSpec{After: delay, Max: 3}, b)
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		n := len(starts)
		mu.Unlock()
		if n <= 3 {
			<-ctx.Done()
			return 0, nil, ctx.Err()
		}
		return 200, []byte(`{"attempt":4}`), nil
	})
	status, body, via, err := h.Do(t.Context(), callTo("results"), "/r", Chain(callTo("results"), d))
	if err != nil || status != 200 || string(body) != `{"attempt":4}` || via != ViaHedge {
		t.Fatalf("Do = %d %q %v %v, want the third duplicate's 200", status, body, via, err)
	}
	if h.Sent() != 3 {
		t.Errorf("%d duplicates sent, want 3", h.Sent())
	}
	mu.Lock()
	defer mu.Unlock()
	for k := 1; k < len(starts); k++ {
		if gap := starts[k].Sub(starts[k-1]); gap < delay {
			t.Errorf("attempt %d started %v after the one before, want at least the delay %v", k+1, gap, delay)
		}
	}
}

// TestHedgeDuplicateLeavesWithTheFlow: while other calls of a Hedger
// start and answer, a call past its delay gets its duplicate from their
// polls, without the clock's timer, whose grain here is an hour.
func TestHedgeDuplicateLeavesWithTheFlow(t *testing.T) {
	const delay = 20 * time.Millisecond
	h := newHedger(t, HedgeSpec{After: delay}, budget(t, 1))
	h.clock.grain = func() int64 { return int64(time.Hour) }
	var stalled atomic.Bool
	d := DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		if path == "/stalled" && stalled.CompareAndSwap(false, true) {
			<-ctx.Done() // the first attempt waits until the duplicate's answer cuts it
			return 0, nil, ctx.Err()
		}
		return 200, []byte(path), nil
	})
	type answer struct {
		body []byte
		via  Via
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		_, body, via, err := h.Do(t.Context(), callTo("results"), "/stalled", Chain(callTo("results"), d))
		done <- answer{body, via, err}
	}()
	giveUp := time.After(10 * time.Second)
	for flowing := 0; ; flowing++ {
		select {
		case a := <-done:
			t.Logf("the duplicate answered after %d flowing calls; %d launched by polls, %d timer firings", flowing, h.clock.polled.Load(), h.clock.sweeps.Load())
			if a.err != nil || string(a.body) != "/stalled" || a.via != ViaHedge {
				t.Fatalf("the stalled call answered %q, %v, %v; want its duplicate's answer", a.body, a.via, a.err)
			}
			if h.clock.polled.Load() < 1 || h.clock.sweeps.Load() != 0 {
				t.Errorf("%d duplicates launched by polls, %d timer firings: want the poll's, not the timer's", h.clock.polled.Load(), h.clock.sweeps.Load())
			}
			return
		case <-giveUp:
			t.Fatalf("no duplicate for the stalled call after %d flowing calls", flowing)
		default:
		}
		if _, _, _, err := h.Do(t.Context(), callTo("results"), "/quick", Chain(callTo("results"), d)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}
