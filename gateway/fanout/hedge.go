package fanout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// HedgeBurst is the number of duplicates the hedge budget holds at most.
const HedgeBurst = 10

// Hedger is the hedging Policy of one call: if the call has not answered
// after the spec's delay, and the Budget allows, it sends a duplicate
// through the same way (its Next: the call's following policies, then the
// request's Doer), up to Max of them, each one delay after the previous.
// The first attempt that answers (any status; a transport error is not an
// answer while another attempt runs) wins; the others have their context
// cancelled and the Doer interrupted (Next.Interrupt), and Do returns once
// they have. A learned delay (HedgeSpec.Quantile) is the quantile of the call's
// recent latencies, kept in a DDSketch (relative error 1 %); until
// MinSamples latencies are known, the call is not hedged at all, as no
// delay can be told slow. A Policy runs inside the call's turn of the
// mode's gate, so the duplicates share it: in the pool mode they take no
// slot of their own, in the blocking mode they run under the same lock.
// It is safe for concurrent use.
type Hedger struct {
	spec   HedgeSpec
	budget *Budget

	// delayNS is the current delay in nanoseconds, -1 while unknown.
	delayNS atomic.Int64

	// mu guards the sketches. The delay is learned from the current
	// window of latencies once it holds MinSamples, from the previous
	// window before that, so that it follows the backend within about
	// two windows and never reads an empty sketch.
	mu        sync.Mutex
	cur, prev *ddsketch.DDSketch
	adds      int

	sent, won atomic.Int64
}

// Learning window of a Hedger's quantile, in latencies.
const (
	// MinSamples is the number of latencies a learned delay needs.
	MinSamples = 100
	// window is the number of latencies after which a fresh sketch starts.
	window = 2000
	// refresh is how often, in latencies, the delay is read again from the
	// sketch, rather than once per call.
	refresh = 32
)

// NewHedger returns the hedging policy spec, drawing on budget.
func NewHedger(spec HedgeSpec, budget *Budget) (*Hedger, error) {
	if spec.Max == 0 {
		spec.Max = 1
	}
	h := &Hedger{spec: spec, budget: budget}
	if spec.Quantile == 0 {
		h.delayNS.Store(int64(spec.After))
		return h, nil
	}
	h.delayNS.Store(-1)
	var err error
	if h.cur, err = newSketch(); err != nil {
		return nil, err
	}
	return h, nil
}

func newSketch() (*ddsketch.DDSketch, error) {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.01, 2048)
	if err != nil {
		return nil, fmt.Errorf("latency sketch: %w", err)
	}
	return s, nil
}

// Sent returns the number of duplicates sent.
func (h *Hedger) Sent() int64 { return h.sent.Load() }

// Won returns the number of calls a duplicate answered first.
func (h *Hedger) Won() int64 { return h.won.Load() }

// Delay returns the current delay before a duplicate, and false while a
// learned one is unknown.
func (h *Hedger) Delay() (time.Duration, bool) {
	d := h.delayNS.Load()
	return time.Duration(d), d >= 0
}

// observe records the latency of a first attempt, for a learned delay.
func (h *Hedger) observe(d time.Duration) {
	if h.spec.Quantile == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur.Add(d.Seconds()) != nil {
		return // a negative latency: the clock stepped, nothing to learn
	}
	h.adds++
	if h.adds%refresh != 0 {
		return
	}
	src := h.cur
	if n := h.cur.GetCount(); n < MinSamples && h.prev != nil {
		src = h.prev
	} else if n < MinSamples {
		return
	}
	if q, err := src.GetValueAtQuantile(h.spec.Quantile); err == nil {
		h.delayNS.Store(int64(q * float64(time.Second)))
	}
	if h.cur.GetCount() >= window {
		h.prev = h.cur
		if s, err := newSketch(); err == nil {
			h.cur = s
		}
	}
}

// attempt is the answer of one attempt of a hedged call.
type attempt struct {
	k      int // 0 for the first attempt, k for the k-th duplicate
	status int
	body   []byte
	via    Via
	err    error
}

// Do performs the call, hedged.
func (h *Hedger) Do(ctx context.Context, _ *Call, path string, next Next) (int, []byte, Via, error) {
	if h.budget.Off() {
		// Hedging is off: nothing to learn or to spend, the call as is.
		return next.Do(ctx, path)
	}
	h.budget.Deposit()
	delay, known := h.Delay()
	t0 := time.Now()
	if !known {
		status, body, via, err := next.Do(ctx, path)
		if err == nil {
			h.observe(time.Since(t0))
		}
		return status, body, via, err
	}
	n := 1 + h.spec.Max
	ch := make(chan attempt, n) // room for every attempt: none blocks
	cancels := make([]context.CancelFunc, 0, n)
	launch := func(k int) {
		c, cancel := context.WithCancel(ctx)
		cancels = append(cancels, cancel)
		if k > 0 {
			c = WithAttempt(c, AttemptHedge) // a trace tells the duplicate apart
		}
		go func() {
			status, body, via, err := next.Do(c, path)
			ch <- attempt{k: k, status: status, body: body, via: via, err: err}
		}()
	}
	launch(0)
	running := 1
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var won, failed *attempt
	for running > 0 && won == nil {
		select {
		case a := <-ch:
			running--
			if a.k == 0 && a.err == nil {
				h.observe(time.Since(t0))
			}
			if a.err == nil {
				won = &a
			} else if failed == nil {
				failed = &a
			}
		case <-timer.C:
			if len(cancels) < n && h.budget.Take() {
				h.sent.Add(1)
				launch(len(cancels))
				running++
				if len(cancels) < n {
					timer.Reset(delay)
				}
			}
		}
	}
	if won != nil && won.k > 0 {
		// The first attempt lost: its latency is at least this long,
		// which keeps the learned tail from forgetting the slow calls
		// that hedging cut.
		h.observe(time.Since(t0))
	}
	for _, cancel := range cancels {
		cancel()
	}
	if running > 0 {
		// The losers' contexts are done; a Doer that does not watch them
		// on the wire cuts them now (see Doer). They must be over before
		// Do returns: next's buffers belong to the request.
		next.Interrupt()
		for ; running > 0; running-- {
			<-ch
		}
	}
	if won == nil {
		return failed.status, failed.body, failed.via, failed.err
	}
	via := won.via
	if won.k > 0 {
		h.won.Add(1)
		via = ViaHedge
	}
	return won.status, won.body, via, won.err
}
