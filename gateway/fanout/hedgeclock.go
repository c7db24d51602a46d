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
// to a grain of half the delay (grainsPerDelay; at least 1 ms): a
// duplicate leaves at most half the delay late, and the clock wakes at
// most once per grain, however many calls are hedged, and once per call at most when
// they are few.
type hedgeClock struct {
	mu      sync.Mutex
	due     []dueCall // a min-heap by at
	timer   *time.Timer
	armedAt int64 // when the timer fires, in clock time; 0: not armed
	grain   func() int64
	sweeps  atomic.Int64 // the timer's firings, for tests
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

// grainsPerDelay divides a Hedger's delay into its clock's grain. While
// calls flow, the clock wakes once per grain whatever they do: on a
// gateway otherwise idle between requests, each wake costs more than all
// the clock's other work. A grain of a fifth of the delay made hedging
// cost about 5 % of the CPU per results page at 500 req/s, half the delay
// about 2.5 % (the cost scenario); the hedging scenario's p99 held within
// its noise (287 and 299 ms, 0.6x the unhedged p99 or better either way).
const grainsPerDelay = 2

// minGrain is the finest grain of a hedgeClock.
const minGrain = int64(time.Millisecond)

func newHedgeClock(grain func() int64) *hedgeClock {
	c := &hedgeClock{grain: grain}
	c.timer = time.AfterFunc(time.Hour, c.sweep)
	c.timer.Stop()
	return c
}

// add registers hr, in its registration gen, for a duplicate at at.
func (c *hedgeClock) add(hr *hedgeRun, gen uint64, at int64) {
	c.mu.Lock()
	hr.dueIdx = len(c.due)
	c.due = append(c.due, dueCall{hr: hr, gen: gen, at: at})
	c.up(hr.dueIdx)
	c.arm(c.due[0].at)
	c.mu.Unlock()
}

// remove takes hr off the clock, if it is on it.
func (c *hedgeClock) remove(hr *hedgeRun) {
	c.mu.Lock()
	if i := hr.dueIdx; i >= 0 {
		c.removeAt(i)
	}
	c.mu.Unlock()
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
		n := 0
		c.mu.Lock()
		c.armedAt = 0
		now := clockNow()
		for n < len(batch) && len(c.due) > 0 && c.due[0].at <= now {
			batch[n] = c.due[0]
			n++
			c.removeAt(0)
		}
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
