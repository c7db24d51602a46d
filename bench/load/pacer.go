package load

import (
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Step is a stretch of an attack at one offered rate: from From (an offset
// from the attack's start) on, Rate requests per second, until the next
// step's From or the end.
type Step struct {
	From time.Duration
	Rate float64
}

// Pacer is a vegeta.Pacer whose rate is piecewise constant: it offers each
// Step's rate from its offset on, so a scenario's event can drop (or raise)
// the load in the middle of a run, which vegeta's ConstantPacer cannot.
//
// Like ConstantPacer, it sends the k-th request at the moment the offered
// rate's integral reaches k: one spacing after the start, then one spacing
// apart, the last of a step at its end. The schedule depends on nothing but
// the steps (never on when a request happened to leave), so a run is
// deterministic, and a generator that falls behind catches up at once
// rather than losing the requests it owes (the open model).
//
// A Pacer is immutable once made, and so safe for concurrent use.
type Pacer struct {
	steps []Step
	// hits[i] is how many requests are due by steps[i].From.
	hits []float64
}

var _ vegeta.Pacer = (*Pacer)(nil)

// NewPacer returns a Pacer over steps: the first must start at 0, each
// later one after the one before, and every rate must be positive (a
// pause would leave vegeta's attack loop waiting for a request that never
// comes due).
func NewPacer(steps []Step) (*Pacer, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("pacer: no steps")
	}
	p := &Pacer{steps: append([]Step(nil), steps...), hits: make([]float64, len(steps))}
	for i, s := range steps {
		switch {
		case i == 0 && s.From != 0:
			return nil, fmt.Errorf("pacer: the first step starts at %v, want 0", s.From)
		case i > 0 && s.From <= steps[i-1].From:
			return nil, fmt.Errorf("pacer: step %d starts at %v, not after step %d (%v)", i, s.From, i-1, steps[i-1].From)
		case !(s.Rate > 0) || math.IsInf(s.Rate, 0):
			return nil, fmt.Errorf("pacer: step %d (from %v) has rate %v, want a positive number", i, s.From, s.Rate)
		}
		if i > 0 {
			prev := steps[i-1]
			p.hits[i] = p.hits[i-1] + prev.Rate*(s.From-prev.From).Seconds()
		}
	}
	return p, nil
}

// ConstantRate returns a Pacer with one step: rate from the start on.
func ConstantRate(rate float64) (*Pacer, error) {
	return NewPacer([]Step{{From: 0, Rate: rate}})
}

// step returns the index of the step under way at elapsed.
func (p *Pacer) step(elapsed time.Duration) int {
	i := 0
	for i+1 < len(p.steps) && p.steps[i+1].From <= elapsed {
		i++
	}
	return i
}

// Rate returns the offered rate, in requests per second, at elapsed.
func (p *Pacer) Rate(elapsed time.Duration) float64 {
	return p.steps[p.step(elapsed)].Rate
}

// Due returns how many requests are due by elapsed: the integral of the
// rate from the start to elapsed (fractional: the next one is on its way).
func (p *Pacer) Due(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	i := p.step(elapsed)
	return p.hits[i] + p.steps[i].Rate*(elapsed-p.steps[i].From).Seconds()
}

// Offered returns the mean rate offered over [from, to), in requests per
// second (the rate at from for an empty window).
func (p *Pacer) Offered(from, to time.Duration) float64 {
	if to <= from {
		return p.Rate(from)
	}
	// Rounded to a millionth of a request per second: the sum of the
	// steps' requests, divided back, would otherwise show 99.99999999 for
	// a phase at 100.
	return math.Round((p.Due(to)-p.Due(from))/(to-from).Seconds()*1e6) / 1e6
}

// Pace returns how long to wait before the next request, given the time
// elapsed and the requests sent so far: until the request hits+1 is due,
// or 0 if it is already late. It never stops the attack: the attack's
// duration does, except for a schedule beyond what a time.Duration holds.
func (p *Pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	next := float64(hits) + 1
	// The step in which request number next falls due: the last whose
	// start has fewer requests due.
	i := len(p.steps) - 1
	for i > 0 && p.hits[i] >= next {
		i--
	}
	s := p.steps[i]
	at := s.From.Seconds() + (next-p.hits[i])/s.Rate
	if at*1e9 >= math.MaxInt64 {
		return 0, true
	}
	return max(time.Duration(at*1e9)-elapsed, 0), false
}

// String describes the steps, as vegeta's pacers do: "Steps{0s: 400/s,
// 12s: 100/s}".
func (p *Pacer) String() string {
	out := "Steps{"
	for i, s := range p.steps {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%v: %v/s", s.From, s.Rate)
	}
	return out + "}"
}
