package fanout

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
)

// gatedDoer holds every call until open is closed, then answers it with
// status and a body naming the path, or fails it with err. It counts calls.
type gatedDoer struct {
	open   chan struct{}
	status int
	err    error
	calls  atomic.Int64
}

func (d *gatedDoer) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	d.calls.Add(1)
	select {
	case <-d.open:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	if d.err != nil {
		return 0, nil, d.err
	}
	return d.status, []byte(`{"path":"` + path + `"}`), nil
}

// waiters returns how many calls wait on path's flight.
func (c *Coalescer) waiting(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[path]; f != nil {
		return f.waiters
	}
	return -1
}

type coalesced struct {
	status int
	body   []byte
	via    Via
	err    error
}

// coalesceN runs n calls for path at once through c, the first one the
// leader, with the contexts ctxs[k] (t's context where nil), and returns
// their answers once the n-1 others wait on the leader's flight and d is
// opened.
func coalesceN(t *testing.T, c *Coalescer, d *gatedDoer, n int, ctxs map[int]context.Context, release func(finished func(k int) bool)) []coalesced {
	t.Helper()
	out := make([]coalesced, n)
	finished := make([]atomic.Bool, n)
	var wg sync.WaitGroup
	start := func(k int) {
		ctx := ctxs[k]
		if ctx == nil {
			ctx = t.Context()
		}
		wg.Go(func() {
			s, b, v, err := c.Do(ctx, callTo("experiments"), "/experiments/7", Chain(callTo("experiments"), d))
			out[k] = coalesced{s, b, v, err}
			finished[k].Store(true)
		})
	}
	start(0)
	poll.Until(t, 10*time.Second, "the leader", func() bool { return c.waiting("/experiments/7") == 0 })
	for k := 1; k < n; k++ {
		start(k)
	}
	poll.Until(t, 10*time.Second, "the waiters", func() bool { return c.waiting("/experiments/7") == n-1 })
	release(func(k int) bool { return finished[k].Load() })
	wg.Wait()
	return out
}

// TestCoalesceSharesOneCall checks that concurrent calls for one path make
// one backend call, and that every caller gets the same bytes.
func TestCoalesceSharesOneCall(t *testing.T) {
	c, err := NewCoalescer(true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &gatedDoer{open: make(chan struct{}), status: 200}
	out := coalesceN(t, c, d, 10, nil, func(func(int) bool) { close(d.open) })
	if n := d.calls.Load(); n != 1 {
		t.Errorf("backend saw %d calls, want 1", n)
	}
	for k, o := range out {
		if o.err != nil || o.status != 200 || !bytes.Equal(o.body, out[0].body) {
			t.Errorf("caller %d: %d %q %v, want the leader's 200 %q", k, o.status, o.body, o.err, out[0].body)
		}
		if want := map[bool]Via{true: ViaCall, false: ViaCoalesced}[k == 0]; o.via != want {
			t.Errorf("caller %d: via %v, want %v", k, o.via, want)
		}
	}
	if c.Coalesced() != 9 {
		t.Errorf("coalesced %d, want 9", c.Coalesced())
	}
}

// TestCoalesceLeaderBackendFailure checks that the waiters share the
// leader's failure when the backend failed: nobody sends the call again.
func TestCoalesceLeaderBackendFailure(t *testing.T) {
	c, _ := NewCoalescer(true, 0, 0)
	d := &gatedDoer{open: make(chan struct{}), err: errExploded}
	out := coalesceN(t, c, d, 5, nil, func(func(int) bool) { close(d.open) })
	if n := d.calls.Load(); n != 1 {
		t.Errorf("backend saw %d calls, want 1", n)
	}
	for k, o := range out {
		if !errors.Is(o.err, errExploded) {
			t.Errorf("caller %d: error %v, want the leader's", k, o.err)
		}
	}
}

// TestCoalesceLeaderCancelled checks that when the leader's own context
// ends, the waiters, whose contexts run, send the call again (one of them
// as the new leader) and get an answer.
func TestCoalesceLeaderCancelled(t *testing.T) {
	c, _ := NewCoalescer(true, 0, 0)
	d := &gatedDoer{open: make(chan struct{}), status: 200}
	leader, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := coalesceN(t, c, d, 5, map[int]context.Context{0: leader}, func(func(int) bool) {
		cancel()
		// Open once the new leader's call is on its way.
		poll.Until(t, 10*time.Second, "a new leader", func() bool { return d.calls.Load() == 2 })
		close(d.open)
	})
	if !errors.Is(out[0].err, context.Canceled) {
		t.Errorf("leader: %v, want its cancellation", out[0].err)
	}
	for k, o := range out[1:] {
		if o.err != nil || o.status != 200 {
			t.Errorf("waiter %d: %d %v, want 200", k+1, o.status, o.err)
		}
	}
	if n := d.calls.Load(); n != 2 {
		t.Errorf("backend saw %d calls, want 2 (the cancelled one, the new leader's)", n)
	}
}

// TestCoalesceWaiterDeadline checks that a waiter leaves at its own
// deadline, while the leader's call goes on.
func TestCoalesceWaiterDeadline(t *testing.T) {
	c, _ := NewCoalescer(true, 0, 0)
	d := &gatedDoer{open: make(chan struct{}), status: 200}
	short, cancel := context.WithCancel(t.Context())
	out := coalesceN(t, c, d, 3, map[int]context.Context{1: short}, func(finished func(int) bool) {
		cancel()
		poll.Until(t, 10*time.Second, "the waiter to leave", func() bool { return finished(1) })
		close(d.open)
	})
	if !errors.Is(out[1].err, context.Canceled) {
		t.Errorf("waiter with its own end: %v, want context.Canceled", out[1].err)
	}
	if out[0].err != nil || out[2].err != nil || out[2].via != ViaCoalesced {
		t.Errorf("leader %v, other waiter %v %v: want both answered", out[0].err, out[2].err, out[2].via)
	}
}

// TestCacheHitsAndMisses checks that a 2xx answer the engine accepted
// serves the next call from the cache, without the backend, byte for
// byte, and that a non-2xx one is not kept.
func TestCacheHitsAndMisses(t *testing.T) {
	c, err := NewCoalescer(false, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &gatedDoer{open: make(chan struct{}), status: 200}
	close(d.open)
	_, first, via, err := c.Do(t.Context(), callTo("experiments"), "/experiments/7", Chain(callTo("experiments"), d))
	if err != nil || via != ViaCall {
		t.Fatalf("first call: %v %v", via, err)
	}
	c.Accept("/experiments/7", 200, first)
	status, body, via, err := c.Do(t.Context(), callTo("experiments"), "/experiments/7", Chain(callTo("experiments"), d))
	if err != nil || status != 200 || via != ViaCache || !bytes.Equal(body, first) {
		t.Errorf("second call: %d %q %v %v, want %q from the cache", status, body, via, err, first)
	}
	d.status = 404
	for range 2 {
		status, body, _, _ := c.Do(t.Context(), callTo("experiments"), "/experiments/8", Chain(callTo("experiments"), d))
		c.Accept("/experiments/8", status, body)
	}
	if n := d.calls.Load(); n != 3 {
		t.Errorf("backend saw %d calls, want 3 (a 404 is not cached)", n)
	}
	if c.Hits() != 1 || c.Misses() != 3 {
		t.Errorf("hits %d misses %d, want 1 and 3", c.Hits(), c.Misses())
	}
}

// uncontended returns a coalescing Coalescer and a call through it that
// nobody else asks for at the same time, as nearly every call.
func uncontended(tb testing.TB) func() error {
	tb.Helper()
	c, err := NewCoalescer(true, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte(`{"id":"7"}`)
	next := Chain(callTo("experiments"), DoerFunc(func(context.Context, string, string, string) (int, []byte, error) {
		return 200, body, nil
	}))
	ctx := context.Background()
	return func() error {
		_, _, _, err := c.Do(ctx, callTo("experiments"), "/experiments/7", next)
		return err
	}
}

// TestUncontendedCoalescedCallAllocatesNothing checks that a coalesced
// call nobody waits on costs no flight and no channel.
func TestUncontendedCoalescedCallAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("the race detector allocates")
	}
	do := uncontended(t)
	if n := testing.AllocsPerRun(200, func() {
		if err := do(); err != nil {
			t.Fatal(err)
		}
	}); n > 0 {
		t.Errorf("an uncontended coalesced call allocates %.1f times, want 0", n)
	}
}

// BenchmarkUncontendedCoalescedCall is the cost of coalescing a call that
// nobody else asks for at the same time.
func BenchmarkUncontendedCoalescedCall(b *testing.B) {
	do := uncontended(b)
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}
