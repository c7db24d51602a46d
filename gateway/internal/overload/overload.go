// Package overload keeps the gateway's requests in progress under an
// adaptive limit, so that past its capacity it sheds the excess at once
// instead of queueing everyone into a collapse. The limit follows the
// measured latency, as Envoy's adaptive concurrency filter and Netflix's
// concurrency-limits do: while requests take about as long as they do
// unloaded, the limit grows (additively, and only when it is used); when
// they take Tolerance times longer, the gateway is queueing somewhere (its
// CPU, a backend's connections), and the limit shrinks in proportion
// (multiplicatively, by the gradient baseline×Tolerance/latency).
//
// Little's law says why this holds the latency: requests in progress =
// throughput × latency, so capping the first at what capacity × unloaded
// latency needs keeps the second near unloaded while every request beyond
// it is refused in microseconds, not served in seconds.
package overload

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Settings fields left zero.
const (
	DefaultInitial   = 64
	DefaultMin       = 8
	DefaultMax       = 10000
	DefaultTolerance = 1.3
	// DefaultWindow is how often the limit is reconsidered, given
	// DefaultSamples requests at least.
	DefaultWindow  = 100 * time.Millisecond
	DefaultSamples = 20
	// DefaultHeadroom is the share of the limit that Critical requests
	// may use beyond it: they are shed last.
	DefaultHeadroom = 0.1
)

// Settings configure a Limiter. Zero fields take the defaults.
type Settings struct {
	Initial, Min, Max int     // the limit at start and its bounds
	Tolerance         float64 // latency over the unloaded one tolerated before the limit shrinks (> 1)
	Window            time.Duration
	Samples           int     // requests a window needs before it counts
	Headroom          float64 // share of the limit Critical requests may use beyond it
}

func (s Settings) withDefaults() Settings {
	if s.Min <= 0 {
		s.Min = DefaultMin
	}
	if s.Max <= 0 {
		s.Max = DefaultMax
	}
	if s.Initial <= 0 {
		s.Initial = DefaultInitial
	}
	s.Initial = min(max(s.Initial, s.Min), s.Max)
	if s.Tolerance <= 1 {
		s.Tolerance = DefaultTolerance
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.Samples <= 0 {
		s.Samples = DefaultSamples
	}
	if s.Headroom <= 0 {
		s.Headroom = DefaultHeadroom
	}
	return s
}

// fastShare is the latency, as a multiple of the baseline, under which
// the limit grows fast: up to it, requests wait for nothing.
const fastShare = 1.1

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

// Limiter is an adaptive limit on requests in progress. It is safe for
// concurrent use; Acquire and Release cost a few atomic operations, and
// once per window a short critical section.
type Limiter struct {
	s        Settings
	inFlight atomic.Int64
	limit    atomic.Int64
	shed     [2]atomic.Int64 // by Priority
	now      func() time.Time

	mu        sync.Mutex
	est       float64       // the limit, unrounded
	baseline  time.Duration // the latency of an unloaded gateway, as measured
	winStart  time.Time
	winSum    time.Duration
	winN      int
	winMaxUse int64 // the most requests in progress seen in the window
}

// New returns a Limiter whose limit starts at s.Initial.
func New(s Settings) (*Limiter, error) {
	if s.Min < 0 || s.Max < 0 || s.Initial < 0 || s.Samples < 0 || s.Window < 0 || s.Headroom < 0 || (s.Max > 0 && s.Min > s.Max) {
		return nil, fmt.Errorf("overload settings %+v: out of range", s)
	}
	s = s.withDefaults()
	l := &Limiter{s: s, est: float64(s.Initial), now: time.Now}
	l.limit.Store(int64(s.Initial))
	l.winStart = l.now()
	return l, nil
}

// Acquire admits a request, or reports false at once if it must be shed.
// An admitted request must be given back with Release.
func (l *Limiter) Acquire(p Priority) bool {
	lim := l.limit.Load()
	if p == Critical {
		lim += max(1, int64(float64(lim)*l.s.Headroom))
	}
	if n := l.inFlight.Add(1); n > lim {
		l.inFlight.Add(-1)
		l.shed[p].Add(1)
		return false
	}
	return true
}

// Release gives back an admitted request that took d. Only a request that
// was served (measured true) tells how long serving takes: a failure, such
// as a refusal by an open breaker in microseconds or a timeout in seconds,
// says nothing about queueing, and would drag the limit down or up for
// nothing. The limit adapts once a window has passed with enough measured
// requests.
func (l *Limiter) Release(d time.Duration, measured bool) {
	use := l.inFlight.Add(-1) + 1
	if !measured {
		return
	}
	l.mu.Lock()
	l.winSum += d
	l.winN++
	l.winMaxUse = max(l.winMaxUse, use)
	if now := l.now(); l.winN >= l.s.Samples && now.Sub(l.winStart) >= l.s.Window {
		l.adapt(l.winSum / time.Duration(l.winN))
		l.winStart, l.winSum, l.winN, l.winMaxUse = now, 0, 0, 0
	}
	l.mu.Unlock()
}

// adapt sets the limit from the window's mean latency. Called under mu.
func (l *Limiter) adapt(mean time.Duration) {
	congested := float64(l.winMaxUse) >= l.est/2
	switch {
	case l.baseline == 0 || mean < l.baseline:
		l.baseline = mean
	case !congested:
		// Half-idle, the latency is the unloaded one: follow it, so that
		// a backend that became slower for good raises the baseline
		// instead of being taken for an overload.
		l.baseline += (mean - l.baseline) / 4
	}
	gradient := l.s.Tolerance * float64(l.baseline) / float64(mean)
	switch {
	case gradient < 1:
		l.est *= max(gradient, 0.5)
	case congested && float64(mean) <= fastShare*float64(l.baseline):
		// Used and as fast as unloaded: probe for more, by a queue of
		// sqrt(limit) as concurrency-limits' Gradient2 does, so that a
		// rising load finds its limit within a second or two.
		l.est += math.Sqrt(l.est)
	case congested:
		// Used and within the tolerance, yet slower: the queue has begun.
		// Probe by one, so that the limit hovers near the knee instead of
		// overshooting it by sqrt(limit) every window.
		l.est++
	}
	l.est = min(max(l.est, float64(l.s.Min)), float64(l.s.Max))
	l.limit.Store(int64(l.est))
}

// Limit returns the current limit.
func (l *Limiter) Limit() int64 { return l.limit.Load() }

// InFlight returns the requests admitted and not released.
func (l *Limiter) InFlight() int64 { return l.inFlight.Load() }

// Shed returns how many requests of a priority were shed.
func (l *Limiter) Shed(p Priority) int64 { return l.shed[p].Load() }

// Baseline returns the unloaded latency the limit is judged against.
func (l *Limiter) Baseline() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.baseline
}
