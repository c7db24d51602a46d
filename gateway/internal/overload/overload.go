// Package overload sheds the gateway's requests when, and only when, the
// gateway itself is saturated: past its own capacity, it refuses the
// excess at once instead of queueing everyone into a collapse.
//
// A fan-out gateway's requests in progress mostly wait on backends, which
// costs the gateway almost nothing: by Little's law a slow backend raises
// them (throughput × latency) without any overload. So neither their number
// nor their latency says that the gateway is overloaded, and a limit that
// followed either would turn one backend's tail into client errors. What
// does say it is the gateway's own queueing: goroutines that are ready to
// run and wait for a CPU. A ticker reads, once per window, three signals
// of the whole process from runtime/metrics /sched/latencies:seconds and
// the process's CPU time: the p99 of the run-queue latency, the number of
// goroutines waiting for a CPU on average (Depth: the time they waited in
// all over the window's, per CPU), and the share of its CPUs (GOMAXPROCS)
// that the process kept busy. The gateway is saturated when its run queue
// is long on busy CPUs (work that holds a CPU for a while between
// yields), or crowded on full ones (work that shares them in small
// slices, as reads, writes and JSON do: each wait is short however many
// wait, but every request's own work stretches with their number). A
// long run queue on idle CPUs is another process taking the machine,
// which shedding would not cure.
//
// While the gateway is not saturated, the limit on requests in progress
// stays at Max and does not bind: a slow backend is the business of
// breakers, deadlines and backend connection limits. Once it is, the limit
// falls to what was in progress, scaled by the square root of how far the
// queueing went past its target (at most halving per window), and every
// request beyond it is refused in microseconds; when the run queue is
// short again, a limit in use grows by its square root per window,
// probing for the knee, and a limit no longer in use is let go, doubling
// per window up to Max. While the limit binds, the ticker also has the
// runtime poll the network every Poll (pollNetwork), so that a request is
// read, and a refusal written, within milliseconds on CPUs that are
// never idle.
//
// The per-request cost is a few atomic operations: Acquire and Release
// take no lock and allocate nothing.
package overload

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Settings fields left zero.
const (
	// DefaultMin is the lowest the limit goes: a few requests in progress
	// are always admitted, whatever the signal says.
	DefaultMin = 8
	// DefaultMax is the limit while the gateway is not saturated: above
	// any number of requests in progress the client connection limit
	// admits, so that it does not bind.
	DefaultMax = 100000
	// DefaultTarget is the run-queue latency (p99 over a window) above
	// which busy CPUs are saturated: a few milliseconds, far above what a
	// gateway with CPU to spare sees (microseconds) and far below the
	// latency of a page, so that shed answers stay fast.
	DefaultTarget = 2 * time.Millisecond
	// DefaultDepth is the average number of goroutines waiting for each
	// CPU above which nearly full CPUs (Full) are saturated. A gateway on
	// one CPU at 90 % of its capacity (the overload scenario's) read at
	// most 1.2, and past its capacity the number grows without bound;
	// limits that held it at 1.6, 2.4 and 3.2 served twice that capacity's
	// pages at p99 67, 69 and 74 ms (a 40 ms critical path) and 325, 360
	// and 394 pages/s, where its capacity was 350.
	DefaultDepth = 2.5
	// DefaultFull is the share of the process's CPUs that must be busy
	// for the number of goroutines waiting (Depth) to count: many short
	// waits on CPUs with room to spare are goroutines waking together,
	// not saturation.
	DefaultFull = 0.9
	// DefaultPoll is how often the network is polled while the limit
	// binds (see pollNetwork).
	DefaultPoll = 2 * time.Millisecond
	// DefaultBusy is the share of the process's CPUs (GOMAXPROCS) that
	// must be busy for a long run queue to count as the gateway's own
	// saturation.
	DefaultBusy = 0.5
	// DefaultWindow is how often the signals are read and the limit
	// reconsidered.
	DefaultWindow = 100 * time.Millisecond
	// DefaultHeadroom is the share of the limit that Critical requests
	// may use beyond it: they are shed last.
	DefaultHeadroom = 0.1
)

// Settings configure a Limiter. Zero fields take the defaults.
type Settings struct {
	Min, Max int           // bounds of the limit; Max is its value while not saturated
	Target   time.Duration // run-queue latency (p99 over a window) above which busy CPUs are saturated
	Busy     float64       // share of GOMAXPROCS busy for the run queue's latency to count (0 < Busy <= 1)
	Depth    float64       // goroutines waiting for a CPU, per CPU on average over a window, above which full CPUs are saturated
	Full     float64       // share of GOMAXPROCS busy for Depth to count (0 < Full <= 1)
	Poll     time.Duration // how often the network is polled while the limit binds
	Window   time.Duration // how often the signals are read
	Headroom float64       // share of the limit Critical requests may use beyond it
}

func (s Settings) withDefaults() Settings {
	switch {
	case s.Min <= 0 && s.Max > 0:
		s.Min = min(DefaultMin, s.Max)
	case s.Min <= 0:
		s.Min = DefaultMin
	}
	if s.Max <= 0 {
		s.Max = max(DefaultMax, s.Min)
	}
	if s.Target <= 0 {
		s.Target = DefaultTarget
	}
	if s.Depth <= 0 {
		s.Depth = DefaultDepth
	}
	if s.Busy <= 0 {
		s.Busy = DefaultBusy
	}
	if s.Full <= 0 {
		s.Full = DefaultFull
	}
	if s.Poll <= 0 {
		s.Poll = DefaultPoll
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.Headroom <= 0 {
		s.Headroom = DefaultHeadroom
	}
	return s
}

// Priority says how early a request is shed.
type Priority int

const (
	// Sheddable requests are refused as soon as the limit is reached:
	// reads, which a client retries at no cost.
	Sheddable Priority = iota
	// Critical requests may go Headroom beyond the limit: writes, which
	// carry a user's input and are the last thing to refuse.
	Critical
)

// Signal is one window's reading of the gateway's saturation.
type Signal struct {
	// Queue is the p99 of the time goroutines waited, ready to run, for
	// a CPU (the Go scheduler's run-queue latency).
	Queue time.Duration
	// Busy is the share of the process's CPUs (GOMAXPROCS) that its CPU
	// time filled, user and system; 1 where the platform cannot tell.
	Busy float64
	// Depth is how many goroutines were ready to run and waiting for a
	// CPU, on average over the window, per CPU (GOMAXPROCS): the time
	// they waited in all, divided by the window's CPU time (Little's
	// law). Work that yields often shares the CPUs in small slices, so
	// each wait is short however many wait; their number is what stretches
	// every request's own work.
	Depth float64
}

// Limiter sheds requests beyond a limit on requests in progress that binds
// only while the gateway is saturated. It is safe for concurrent use;
// Acquire and Release cost a few atomic operations. New starts a ticker
// that Close stops.
type Limiter struct {
	s        Settings
	inFlight atomic.Int64
	peak     atomic.Int64 // the most requests in progress seen in the window
	limit    atomic.Int64
	shed     [2]atomic.Int64 // by Priority
	queue    atomic.Int64    // the last window's run-queue latency, ns
	busy     atomic.Uint64   // the last window's busy share, float64 bits

	est   float64 // the limit, unrounded; the ticker's alone
	stop  chan struct{}
	close sync.Once
	done  chan struct{}
}

// New returns a Limiter that does not bind until the gateway is saturated,
// and starts the ticker that reads the signals every s.Window.
func New(s Settings) (*Limiter, error) {
	l, err := newLimiter(s)
	if err != nil {
		return nil, err
	}
	smp, err := newSampler()
	if err != nil {
		return nil, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.run(smp)
	return l, nil
}

// newLimiter returns a Limiter without its ticker: tests drive adapt.
func newLimiter(s Settings) (*Limiter, error) {
	if s.Min < 0 || s.Max < 0 || s.Target < 0 || s.Window < 0 || s.Headroom < 0 || s.Depth < 0 || s.Busy < 0 || s.Busy > 1 ||
		s.Full < 0 || s.Full > 1 || s.Poll < 0 ||
		(s.Max > 0 && s.Min > s.Max) {
		return nil, fmt.Errorf("overload settings %+v: out of range", s)
	}
	s = s.withDefaults()
	l := &Limiter{s: s, est: float64(s.Max)}
	l.limit.Store(int64(s.Max))
	return l, nil
}

// run reads the signals once per window until Close, and polls the
// network every Poll while the limit binds.
func (l *Limiter) run(smp *sampler) {
	defer close(l.done)
	t := time.NewTicker(l.s.Window)
	defer t.Stop()
	poll := time.NewTicker(l.s.Poll)
	poll.Stop()
	var polls <-chan time.Time // nil while the limit does not bind
	defer poll.Stop()
	var ms runtime.MemStats
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.adapt(smp.read(now))
			switch binds := l.limit.Load() < int64(l.s.Max); {
			case binds && polls == nil:
				poll.Reset(l.s.Poll)
				polls = poll.C
			case !binds && polls != nil:
				poll.Stop()
				polls = nil
			}
		case <-polls:
			pollNetwork(&ms)
		}
	}
}

// pollNetwork has the Go runtime poll the network now.
//
// The scheduler looks for network events (a request that arrived, on a
// connection whose goroutine waits to read it) only when a CPU has no
// goroutine left to run, or, failing that, every 10 ms (sysmon). A
// saturated gateway always has goroutines ready to run, so a request
// that arrives waits up to 10 ms before it is even read: a shed answer,
// which costs microseconds, took 10 to 12 ms at p99. A stop-the-world
// polls the network when the world starts again, and reading the memory
// statistics is the cheapest one the runtime offers (about 30 µs on the
// machines of the bench): every 2 ms, about 1.5 % of one CPU, spent only
// while the limit binds. TestPollNetworkReadsSooner proves the effect,
// so that a runtime that changes it is noticed.
func pollNetwork(ms *runtime.MemStats) { runtime.ReadMemStats(ms) }

// Close stops the ticker; the limit stays where it was. It is safe to call
// more than once.
func (l *Limiter) Close() {
	if l.stop == nil {
		return
	}
	l.close.Do(func() { close(l.stop) })
	<-l.done
}

// Acquire admits a request, or reports false at once if it must be shed.
// An admitted request must be given back with Release.
func (l *Limiter) Acquire(p Priority) bool {
	lim := l.limit.Load()
	if p == Critical {
		lim += max(1, int64(float64(lim)*l.s.Headroom))
	}
	n := l.inFlight.Add(1)
	if n > lim {
		l.inFlight.Add(-1)
		l.shed[p].Add(1)
		return false
	}
	// A racy maximum: two requests that raise it at once may leave the
	// smaller, one request off, which is all the precision the limit
	// needs, for a load and rarely a store instead of a loop of CAS.
	if n > l.peak.Load() {
		l.peak.Store(n)
	}
	return true
}

// Release gives back an admitted request.
func (l *Limiter) Release() { l.inFlight.Add(-1) }

// adapt sets the limit from one window's signal and the requests in
// progress it saw at most. Called by the ticker alone.
func (l *Limiter) adapt(sig Signal) {
	l.queue.Store(int64(sig.Queue))
	l.busy.Store(math.Float64bits(sig.Busy))
	// The window's peak, and the next window starts from what is in
	// progress now.
	peak := float64(l.peak.Swap(l.inFlight.Load()))
	switch {
	case l.saturated(sig):
		// Saturated: from what was in progress (the limit may not have
		// bound), shrink by the excess of queueing, at most by half, as
		// the gradient of Netflix's concurrency-limits does with latency.
		// Its square root, because the run queue grows faster than the
		// work admitted beyond the knee, and the runtime's histogram
		// reads it in steps of a quarter of a power of two: the gradient
		// itself would halve the limit for a step of the reading.
		l.est = min(l.est, peak) * max(0.5, math.Sqrt(1/l.excess(sig)))
	case peak >= 0.9*l.est:
		// In use and the run queue short: probe for more, by a queue of
		// sqrt(limit), so that the limit hovers near the knee.
		l.est += math.Sqrt(l.est)
	default:
		// The limit does not bound what is in progress and the gateway
		// is not saturated: let it go fast, so that more requests in
		// progress without more work (a backend slowing down) are not
		// refused.
		l.est *= 2
	}
	l.est = min(max(l.est, float64(l.s.Min)), float64(l.s.Max))
	l.limit.Store(int64(l.est))
}

// saturated reports whether a window's signal is the gateway's own
// saturation: goroutines that waited long for busy CPUs (work that holds a
// CPU for a while between yields), or many that waited, each a little,
// for CPUs that were nearly full (work that shares them in small slices,
// as a gateway's reads, writes and JSON do).
func (l *Limiter) saturated(sig Signal) bool {
	return sig.Busy >= l.s.Busy && sig.Queue > l.s.Target ||
		sig.Busy >= l.s.Full && sig.Depth > l.s.Depth
}

// excess is how far a saturated window's queueing went past its target:
// the larger of the two signals' ratios to theirs that count.
func (l *Limiter) excess(sig Signal) float64 {
	e := 1.0
	if sig.Busy >= l.s.Busy {
		e = max(e, float64(sig.Queue)/float64(l.s.Target))
	}
	if sig.Busy >= l.s.Full {
		e = max(e, sig.Depth/l.s.Depth)
	}
	return e
}

// Limit returns the current limit: Settings.Max while the gateway is not
// saturated.
func (l *Limiter) Limit() int64 { return l.limit.Load() }

// InFlight returns the requests admitted and not released.
func (l *Limiter) InFlight() int64 { return l.inFlight.Load() }

// Shed returns how many requests of a priority were shed.
func (l *Limiter) Shed(p Priority) int64 { return l.shed[p].Load() }

// Signal returns the last window's reading.
func (l *Limiter) Signal() Signal {
	return Signal{Queue: time.Duration(l.queue.Load()), Busy: math.Float64frombits(l.busy.Load())}
}

// procs is GOMAXPROCS, read without changing it.
func procs() int { return runtime.GOMAXPROCS(0) }
