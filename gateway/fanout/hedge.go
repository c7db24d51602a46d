package fanout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/internal/lazyctx"

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
// delay can be told slow. A learned delay also stands down while no
// duplicate could have won: when none won over the recent latencies and
// the slowest of them is no longer than the delay plus the fastest, a
// duplicate, which takes at least the fastest, would never answer first,
// and would only load the backend and the gateway. A call that then runs
// past the delay and fails (it hung until a deadline) counts as at least
// that slow, so a tail of hangs arms the hedging again as a slow answer
// does. A Policy runs inside the call's turn of the mode's gate, so the
// duplicates share it: in the pool mode they take no slot of their own,
// in the blocking mode they run under the same lock.
// It is safe for concurrent use.
type Hedger struct {
	spec   HedgeSpec
	budget *Budget

	// delayNS is the current delay in nanoseconds, -1 while unknown.
	delayNS atomic.Int64
	// futile is set while no duplicate sent after the delay could have
	// answered first over the latencies it was learned from: the call is
	// then not hedged.
	futile atomic.Bool

	// mu guards the sketches. The delay is learned from the current
	// window of latencies once it holds MinSamples, from the previous
	// window before that, so that it follows the backend within about
	// two windows and never reads an empty sketch.
	mu        sync.Mutex
	cur, prev *ddsketch.DDSketch
	adds      int
	// curWon and prevWon say that a duplicate won within the window of
	// cur and of prev: hedging then does not stand down.
	curWon, prevWon bool

	sent, won atomic.Int64

	// clock launches the duplicates of the calls in progress.
	clock *hedgeClock
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
	h.clock = newHedgeClock(h.delayNS.Load)
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

// Armed returns the delay before a duplicate, and false while the call
// is not hedged: a learned delay not known yet, or standing down because
// no duplicate could have won lately.
func (h *Hedger) Armed() (time.Duration, bool) {
	d, ok := h.Delay()
	return d, ok && !h.futile.Load()
}

// observe records the latency of a call, for a learned delay: its first
// attempt's, or, when a duplicate won (dupWon), the time until then, which
// the first attempt took at least.
func (h *Hedger) observe(d time.Duration, dupWon bool) {
	if h.spec.Quantile == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur.Add(d.Seconds()) != nil {
		return // a negative latency: the clock stepped, nothing to learn
	}
	h.curWon = h.curWon || dupWon
	h.adds++
	if h.adds%refresh != 0 {
		return
	}
	src, won := h.cur, h.curWon
	if n := h.cur.GetCount(); n < MinSamples && h.prev != nil {
		src, won = h.prev, h.prevWon
	} else if n < MinSamples {
		return
	}
	if q, err := src.GetValueAtQuantile(h.spec.Quantile); err == nil {
		h.delayNS.Store(int64(q * float64(time.Second)))
		h.futile.Store(!won && futileAfter(src, q))
	}
	if h.cur.GetCount() >= window {
		h.prev, h.prevWon = h.cur, h.curWon
		if s, err := newSketch(); err == nil {
			h.cur, h.curWon = s, false
		}
	}
}

// futileAfter reports whether a duplicate sent delay seconds into a call
// could have answered first for none of the latencies in s: the slowest
// took no longer than the delay plus the fastest, the least a duplicate
// takes. The sketch's values are within its relative accuracy (1 %).
func futileAfter(s *ddsketch.DDSketch, delay float64) bool {
	lo, errLo := s.GetMinValue()
	hi, errHi := s.GetMaxValue()
	return errLo == nil && errHi == nil && hi <= delay+lo
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
	if !known || h.futile.Load() {
		status, body, via, err := next.Do(ctx, path)
		if d := time.Since(t0); err == nil || (known && d > delay) {
			// A failure past the delay, a call that hung until its
			// deadline, was at least that slow: hedging stands down
			// only while no call is.
			h.observe(d, false)
		}
		return status, body, via, err
	}
	return h.race(ctx, path, next, delay, t0)
}

// hedgeRun is the state of one hedged call whose delay is known. The
// first attempt runs on the caller's goroutine under a lazy context (see
// lazyctx); the Hedger's clock launches each duplicate in a goroutine of
// its own. A call that answers within the delay, nearly all of them, so
// costs neither a goroutine, nor a channel, nor a wake-up of the caller.
// hedgeRuns keeps them with their channel.
type hedgeRun struct {
	h     *Hedger
	ctx   context.Context
	path  string
	next  Next
	delay time.Duration
	first lazyctx.Context
	ch    chan attempt // room for every duplicate: none blocks

	// dueIdx is the run's place in the clock's heap, -1 when off it;
	// the clock's mu guards it.
	dueIdx int

	// mu guards what follows, between the caller, the clock and the
	// duplicates.
	mu       sync.Mutex
	gen      uint64 // the registration: the clock fires only its own
	done     bool   // the first attempt returned: no duplicate starts now
	launched int
	cancels  []context.CancelFunc
	dupWon   bool // a duplicate answered while the first attempt ran
}

var hedgeRuns sync.Pool

// race runs the first attempt on this goroutine and the duplicates that
// the clock launches, and returns the first answer, as Do says.
func (h *Hedger) race(ctx context.Context, path string, next Next, delay time.Duration, t0 time.Time) (int, []byte, Via, error) {
	hr, _ := hedgeRuns.Get().(*hedgeRun)
	if hr == nil || cap(hr.ch) < h.spec.Max {
		hr = &hedgeRun{ch: make(chan attempt, max(h.spec.Max, 1)), dueIdx: -1}
	}
	hr.mu.Lock()
	hr.gen++
	gen := hr.gen
	hr.h, hr.ctx, hr.path, hr.next, hr.delay = h, ctx, path, next, delay
	hr.done, hr.launched, hr.dupWon = false, 0, false
	hr.cancels = hr.cancels[:0]
	hr.mu.Unlock()
	hr.first.Reset(ctx, time.Time{})
	h.clock.addPoll(hr, gen, clockNow()+int64(delay))
	status, body, via, err := next.Do(&hr.first, path)
	hr.mu.Lock()
	hr.done = true
	n, dupWon := hr.launched, hr.dupWon
	hr.mu.Unlock()
	h.clock.removePoll(hr)
	hr.first.Cancel()
	if n == 0 {
		if err == nil {
			h.observe(time.Since(t0), false)
		}
		hr.release()
		return status, body, via, err
	}
	first := attempt{k: 0, status: status, body: body, via: via, err: err}
	var won, failed *attempt
	switch {
	case err == nil && !dupWon:
		won = &first
		h.observe(time.Since(t0), false)
		hr.cancelDuplicates()
	case err != nil:
		failed = &first
	}
	var got [4]attempt
	answers := got[:0]
	for range n {
		answers = append(answers, <-hr.ch)
		a := &answers[len(answers)-1]
		if won == nil && a.err == nil {
			won = a
			hr.cancelDuplicates()
		} else if a.err != nil && failed == nil {
			failed = a
		}
	}
	hr.release()
	if won == nil {
		return failed.status, failed.body, failed.via, failed.err
	}
	via = won.via
	if won.k > 0 {
		// The first attempt lost: its latency is at least this long,
		// which keeps the learned tail from forgetting the slow calls
		// that hedging cut, and hedging from standing down.
		h.observe(time.Since(t0), true)
		h.won.Add(1)
		via = ViaHedge
	}
	return won.status, won.body, via, won.err
}

// cancelDuplicates cancels the duplicates' contexts and interrupts the
// Doer, which cuts those on the wire (see Doer): they must be over before
// Do returns, since next's buffers belong to the request.
func (hr *hedgeRun) cancelDuplicates() {
	hr.mu.Lock()
	for _, cancel := range hr.cancels {
		cancel()
	}
	hr.mu.Unlock()
	hr.next.Interrupt()
}

// release returns hr to the pool. It is off the clock: a sweep that took
// it off just before may still call fire, which finds its registration
// over (gen) and does nothing.
func (hr *hedgeRun) release() {
	hr.mu.Lock()
	hr.h, hr.ctx, hr.next = nil, nil, Next{}
	hr.mu.Unlock()
	hedgeRuns.Put(hr)
}

// fire, called by the clock, launches a duplicate if the registration
// gen is still the first attempt's, the attempt still out, and both the
// spec and the budget allow one more; the next one is due a delay later.
func (hr *hedgeRun) fire(gen uint64) {
	hr.mu.Lock()
	h := hr.h
	if hr.gen != gen || hr.done || h == nil || hr.launched >= h.spec.Max || !h.budget.Take() {
		hr.mu.Unlock()
		return
	}
	hr.launched++
	k := hr.launched
	c, cancel := context.WithCancel(hr.ctx)
	hr.cancels = append(hr.cancels, cancel)
	if hr.launched < h.spec.Max {
		h.clock.add(hr, gen, clockNow()+int64(hr.delay))
	}
	next, path := hr.next, hr.path
	hr.mu.Unlock()
	h.sent.Add(1)
	go func() {
		growStack()
		status, body, via, err := next.Do(WithAttempt(c, AttemptHedge), path)
		if err == nil {
			hr.mu.Lock()
			first := !hr.done && !hr.dupWon
			hr.dupWon = hr.dupWon || first
			hr.mu.Unlock()
			if first {
				// The first attempt is still out: cut it, so that the
				// caller's goroutine returns this answer now.
				hr.first.Cancel()
				next.Interrupt()
			}
		}
		hr.ch <- attempt{k: k, status: status, body: body, via: via, err: err}
	}()
}
