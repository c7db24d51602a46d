package fanout

import (
	"sync"
	"sync/atomic"
	"time"
)

// hedgeClock launches the duplicates of one Hedger's calls when their
// delay is over, with one timer for all of them.
//
// A timer per call woke the gateway once per hedged call: a call that
// answers just before its delay, as nearly all of them do when the delay
// is a high quantile of their latency, stops its timer, but the runtime
// still wakes a thread at the stopped timer's time to find it gone. The
// clock keeps the calls in progress in a heap by deadline, removes each as
// it answers, and runs its one timer at the earliest deadline rounded up
// to a grain of the delay (at least 1 ms), so that it
// wakes at most once per grain, however many calls are hedged, and once
// per call at most when they are few.
//
// While calls flow, the duplicates leave on time without the timer: each
// call of the Hedger that starts or answers (addPoll, removePoll) launches
// the duplicates already due, on its own goroutine, which runs anyway.
// The timer is the backstop for a Hedger whose calls all wait: a
// duplicate then leaves at most a grain late.
type hedgeClock struct {
	mu      sync.Mutex
	due     []dueCall // a min-heap by at
	timer   *time.Timer
	armedAt int64 // when the timer fires, in clock time; 0: not armed
	grain   func() int64
	sweeps  atomic.Int64 // the timer's firings, for tests
	polled  atomic.Int64 // duplicates launched by a call's poll, for tests
}

// A dueCall is a hedged call whose next duplicate is due at at (clock
// time), in its registration gen.
type dueCall struct {
	hr  *hedgeRun
	gen uint64
	at  int64
}

// clockBase is the origin of clock time: nanoseconds on the monotonic
// clock.
var clockBase = time.Now()

func clockNow() int64 { return int64(time.Since(clockBase)) }

// The grain is the whole delay. While calls flow, the timer fires once
// per grain whatever they do: on a gateway otherwise idle between
// requests, each wake costs more than all the clock's other work. A grain
// of a fifth of the delay made hedging cost about 5 % of the CPU per
// results page at 500 req/s, half the delay about 2.9 % (the cost
// scenario). The polls of the calls themselves keep the duplicates on
// time while calls flow, so only a Hedger whose calls all wait sends a
// duplicate late, at most a delay.
//
// minGrain is the finest grain of a hedgeClock.
const minGrain = int64(time.Millisecond)

// newHedgeClock makes a clock whose grain is grain() nanoseconds (the
// Hedger's delay), at least minGrain.
func newHedgeClock(grain func() int64) *hedgeClock {
	c := &hedgeClock{grain: grain}
	c.timer = time.AfterFunc(time.Hour, c.sweep)
	c.timer.Stop()
	return c
}

// add registers hr, in its registration gen, for a duplicate at at.
func (c *hedgeClock) add(hr *hedgeRun, gen uint64, at int64) {
	c.mu.Lock()
	c.push(hr, gen, at)
	c.mu.Unlock()
}

// push puts hr on the heap and arms the timer for the earliest deadline.
// c.mu is held.
func (c *hedgeClock) push(hr *hedgeRun, gen uint64, at int64) {
	hr.dueIdx = len(c.due)
	c.due = append(c.due, dueCall{hr: hr, gen: gen, at: at})
	c.up(hr.dueIdx)
	c.arm(c.due[0].at)
}

// addPoll adds hr as add does, then launches the duplicates due, on the
// caller's goroutine. The caller holds no hedgeRun's lock: fire takes
// the lock of the run it fires.
func (c *hedgeClock) addPoll(hr *hedgeRun, gen uint64, at int64) {
	c.mu.Lock()
	c.push(hr, gen, at)
	c.unlockAndPoll()
}

// removePoll takes hr off the clock, if it is on it, then launches the
// duplicates due, as addPoll does.
func (c *hedgeClock) removePoll(hr *hedgeRun) {
	c.mu.Lock()
	if i := hr.dueIdx; i >= 0 {
		c.removeAt(i)
	}
	c.unlockAndPoll()
}

// unlockAndPoll takes the calls due now off the heap, pollBatch at most,
// releases c.mu, which the caller holds, and launches their duplicates.
func (c *hedgeClock) unlockAndPoll() {
	var batch [pollBatch]dueCall
	n := c.takeDue(batch[:], clockNow())
	c.mu.Unlock()
	for _, d := range batch[:n] {
		c.polled.Add(1)
		d.hr.fire(d.gen)
	}
}

// pollBatch is the most duplicates one poll launches; the next poll, or
// the timer, launches the rest.
const pollBatch = 4

// takeDue takes off the heap the calls due at now, as many as batch
// holds, into batch, and returns how many. c.mu is held.
func (c *hedgeClock) takeDue(batch []dueCall, now int64) int {
	n := 0
	for n < len(batch) && len(c.due) > 0 && c.due[0].at <= now {
		batch[n] = c.due[0]
		n++
		c.removeAt(0)
	}
	return n
}

// arm has the timer fire at at, rounded up to the grain, unless it fires
// sooner already. The timer is not stopped when the calls it was armed
// for answer first: sweep then finds nothing due, which costs what the
// stopped timer of a call did.
func (c *hedgeClock) arm(at int64) {
	g := max(c.grain(), minGrain)
	at = (at + g - 1) / g * g
	if c.armedAt != 0 && c.armedAt <= at {
		return
	}
	c.armedAt = at
	c.timer.Reset(time.Duration(at - clockNow()))
}

// sweep, the timer's callback, launches the duplicates due and arms the
// timer for the next deadline.
func (c *hedgeClock) sweep() {
	c.sweeps.Add(1)
	for {
		var batch [16]dueCall
		c.mu.Lock()
		c.armedAt = 0
		now := clockNow()
		n := c.takeDue(batch[:], now)
		more := n == len(batch) && len(c.due) > 0 && c.due[0].at <= now
		if !more && len(c.due) > 0 {
			c.arm(c.due[0].at)
		}
		c.mu.Unlock()
		for _, d := range batch[:n] {
			d.hr.fire(d.gen)
		}
		if !more {
			return
		}
	}
}

// removeAt takes the i-th entry off the heap.
func (c *hedgeClock) removeAt(i int) {
	last := len(c.due) - 1
	c.due[i].hr.dueIdx = -1
	if i != last {
		c.due[i] = c.due[last]
		c.due[i].hr.dueIdx = i
	}
	c.due[last] = dueCall{}
	c.due = c.due[:last]
	if i != last {
		c.down(i)
		c.up(i)
	}
}

func (c *hedgeClock) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if c.due[p].at <= c.due[i].at {
			return
		}
		c.swap(i, p)
		i = p
	}
}

func (c *hedgeClock) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(c.due) && c.due[l].at < c.due[small].at {
			small = l
		}
		if r := l + 1; r < len(c.due) && c.due[r].at < c.due[small].at {
			small = r
		}
		if small == i {
			return
		}
		c.swap(i, small)
		i = small
	}
}

func (c *hedgeClock) swap(i, j int) {
	c.due[i], c.due[j] = c.due[j], c.due[i]
	c.due[i].hr.dueIdx = i
	c.due[j].hr.dueIdx = j
}
