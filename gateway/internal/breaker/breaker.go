// Package breaker keeps one circuit breaker per backend, so that a dead
// backend costs the gateway a refusal instead of a full attempt per call.
// The state machine is sony/gobreaker's: a breaker opens on a failure rate
// or on consecutive failures, lets a few probes through once half-open, and
// closes when they succeed. Only the backend's own faults count: no answer,
// a timeout, a malformed answer or a 5xx. A 404, a call the gateway gave up
// (cancelled) and a call never sent for want of a free connection say
// nothing about the backend's health.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"

	"github.com/sony/gobreaker/v2"
)

// Defaults of Settings fields left zero.
const (
	// DefaultFailures opens a breaker after this many faults in a row.
	DefaultFailures = 5
	// DefaultFailureRate opens a breaker when at least this share of the
	// calls of its window failed, once the window holds MinCalls calls.
	DefaultFailureRate = 0.5
	// DefaultMinCalls is the fewest calls of a window that a failure rate
	// is judged on, so that two failures out of three do not open it.
	DefaultMinCalls = 20
	// DefaultWindow is the rolling window the rate is measured over.
	DefaultWindow = 10 * time.Second
	// DefaultOpen is how long a breaker stays open before it lets probes
	// through: short, since a gateway's backends usually come back fast
	// and each second open is a second of refusals.
	DefaultOpen = time.Second
	// DefaultProbes is how many calls a half-open breaker lets through;
	// their success closes it, one failure opens it again.
	DefaultProbes = 1
)

// Settings are the thresholds of every backend's breaker. Zero fields take
// the defaults.
type Settings struct {
	Failures    uint32        // consecutive faults that open a breaker
	FailureRate float64       // share of faults in Window that opens it (0 < rate <= 1)
	MinCalls    uint32        // calls a window needs before its rate counts
	Window      time.Duration // the rolling window of the rate
	Open        time.Duration // how long it stays open before probing
	Probes      uint32        // calls let through while half-open
}

// withDefaults fills the zero fields.
func (s Settings) withDefaults() Settings {
	if s.Failures == 0 {
		s.Failures = DefaultFailures
	}
	if s.FailureRate <= 0 {
		s.FailureRate = DefaultFailureRate
	}
	if s.MinCalls == 0 {
		s.MinCalls = DefaultMinCalls
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.Open <= 0 {
		s.Open = DefaultOpen
	}
	if s.Probes == 0 {
		s.Probes = DefaultProbes
	}
	return s
}

// Validate reports a threshold out of range, naming it.
func (s Settings) Validate() error {
	switch {
	case s.FailureRate < 0 || s.FailureRate > 1:
		return fmt.Errorf("breaker failure rate %v: want a share between 0 and 1", s.FailureRate)
	case s.Window < 0:
		return fmt.Errorf("breaker window %v is negative", s.Window)
	case s.Open < 0:
		return fmt.Errorf("breaker open time %v is negative", s.Open)
	}
	return nil
}

// State is a breaker's state, as gobreaker names it: closed, half-open, open.
type State = gobreaker.State

// States of a breaker.
const (
	Closed   = gobreaker.StateClosed
	HalfOpen = gobreaker.StateHalfOpen
	Open     = gobreaker.StateOpen
)

// Transition is a change of a backend's breaker, for metrics and logs.
type Transition struct {
	Backend  string
	From, To State
}

// Set holds one breaker per backend. It is safe for concurrent use.
type Set struct {
	settings   Settings
	byName     map[string]*entry // read-only after New
	onChange   func(Transition)
	retryAfter string // RetryAfter, formatted once
}

// entry is one backend's breaker and its counts for the metrics.
type entry struct {
	cb          *gobreaker.CircuitBreaker[struct{}]
	inFlight    atomic.Int64 // calls let through and not answered yet
	refused     atomic.Int64
	transitions [3][3]atomic.Int64 // [from][to]
}

// New returns a breaker for each named backend. onChange, if not nil, is
// told of every transition, in the goroutine of the call that caused it,
// while the breaker's lock is held: it must be quick and must not call the
// Set.
func New(backends []string, s Settings, onChange func(Transition)) (*Set, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	set := &Set{settings: s, byName: make(map[string]*entry, len(backends)), onChange: onChange}
	set.retryAfter = strconv.FormatInt(max(int64((s.Open+time.Second-1)/time.Second), 1), 10)
	for _, name := range backends {
		e := &entry{}
		e.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: s.Probes,
			Interval:    s.Window,
			// Ten buckets make the window roll, so that the faults of a
			// minute ago do not keep a recovered backend on the edge.
			BucketPeriod: s.Window / 10,
			Timeout:      s.Open,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				if c.ConsecutiveFailures >= s.Failures {
					return true
				}
				return c.Requests >= s.MinCalls && float64(c.TotalFailures) >= s.FailureRate*float64(c.Requests)
			},
			OnStateChange: func(name string, from, to gobreaker.State) {
				e.transitions[from][to].Add(1)
				if set.onChange != nil {
					set.onChange(Transition{Backend: name, From: from, To: to})
				}
			},
			IsSuccessful: func(err error) bool { return err == nil },
			IsExcluded:   func(err error) bool { return errors.Is(err, errNeutral) },
		})
		set.byName[name] = e
	}
	return set, nil
}

// Settings returns the thresholds in force, defaults filled in.
func (s *Set) Settings() Settings { return s.settings }

// State returns the state of a backend's breaker; Closed for a backend the
// Set does not know.
func (s *Set) State(backendName string) State {
	if e := s.byName[backendName]; e != nil {
		return e.cb.State()
	}
	return Closed
}

// Admits reports whether a call to the backend would be let through now:
// its breaker is closed, or half-open with fewer calls out than it has
// probes (gobreaker does not tell its probes apart, so every call still
// out counts as one: it errs on refusing). A request whose required call
// would be refused can be answered before any backend work.
func (s *Set) Admits(backendName string) bool {
	e := s.byName[backendName]
	if e == nil {
		return true
	}
	switch e.cb.State() {
	case Closed:
		return true
	case HalfOpen:
		return e.inFlight.Load() < int64(s.settings.Probes)
	}
	return false
}

// Refused returns how many calls to a backend its breaker refused.
func (s *Set) Refused(backendName string) int64 {
	if e := s.byName[backendName]; e != nil {
		return e.refused.Load()
	}
	return 0
}

// Transitions returns how many times a backend's breaker went from one
// state to another.
func (s *Set) Transitions(backendName string, from, to State) int64 {
	if e := s.byName[backendName]; e != nil && inRange(from) && inRange(to) {
		return e.transitions[from][to].Load()
	}
	return 0
}

func inRange(st State) bool { return st >= Closed && st <= Open }

// RetryAfter is what a client refused by an open breaker should wait, in
// whole seconds for a Retry-After header: the open time, rounded up.
func (s *Set) RetryAfter() string { return s.retryAfter }

// Refuses reports whether the breaker of call's backend would refuse the
// call now (see Admits), with RetryAfter: a fanout.Refuser, so that the
// server answers a request that needs the backend before any work.
func (s *Set) Refuses(call *fanout.Call) bool { return !s.Admits(call.Spec.Backend) }

// Do performs one call through its backend's breaker, as a fanout.Policy
// on every call of every plan: refused at once with a *backend.Error of
// KindCircuitOpen (errors.Is matches ErrOpen) while the breaker is open,
// or half-open with its probes already out; otherwise passed to next,
// whose answer the breaker counts. A backend the Set does not know passes
// straight through.
func (s *Set) Do(ctx context.Context, c *fanout.Call, path string, next fanout.Next) (int, []byte, fanout.Via, error) {
	name := c.Spec.Backend
	e := s.byName[name]
	if e == nil {
		return next.Do(ctx, path)
	}
	var status int
	var body []byte
	var via fanout.Via
	var err error
	_, berr := e.cb.Execute(func() (struct{}, error) {
		e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		status, body, via, err = next.Do(ctx, path)
		return struct{}{}, fault(status, err)
	})
	if errors.Is(berr, gobreaker.ErrOpenState) || errors.Is(berr, gobreaker.ErrTooManyRequests) {
		e.refused.Add(1)
		return 0, nil, fanout.ViaCall, &backend.Error{Kind: backend.KindCircuitOpen, Backend: name, Addr: "-", Err: fmt.Errorf("%w: %w", ErrOpen, berr)}
	}
	return status, body, via, err
}

// ErrOpen marks a call a breaker refused.
var ErrOpen = errors.New("circuit breaker open")

var (
	// errFault is a call the breaker counts as a failure.
	errFault = errors.New("backend fault")
	// errNeutral is a call the breaker does not count at all.
	errNeutral = errors.New("not the backend's doing")
)

// fault says what a call tells of the backend's health: nil for an answer
// below 500 (a 404 is a healthy backend saying no), errFault for a 5xx or
// a fault of its own, errNeutral for a call that the gateway gave up
// (cancelled) or never sent (no free connection).
func fault(status int, err error) error {
	if err == nil {
		if status >= 500 {
			return errFault
		}
		return nil
	}
	switch backend.KindOf(err) {
	case backend.KindCancelled, backend.KindUnavailable, backend.KindCircuitOpen:
		return errNeutral
	}
	if errors.Is(err, context.Canceled) {
		return errNeutral
	}
	return errFault
}
