// Package capacity finds the highest request rate a server sustains within a
// service-level objective. Short probes find where the server breaks:
// doubling from a start rate until a probe fails, then bisecting between the
// last passing and the first failing rate. A short probe can pass at a rate
// the server does not sustain (a queue that grows slowly still looks fine for
// two seconds), so the rate they settle on must then hold: one long probe at
// it has to meet the SLO with no latency trend. If it does not, the search
// steps down, holding each candidate, within its time budget.
//
// A probe passes only on figures worth trusting: at least MinSamples
// requests behind its p99, a load generator that achieved the offered
// rate, and a load side (generator and mock backends) that did not run out
// of CPU. A search whose lowest failing rate failed for the load side's
// sake found a lower bound of the server's capacity, not the capacity
// (Result.LoadBound).
package capacity

import (
	"context"
	"fmt"
	"math"
	"time"
)

// HoldsKept is how many holds the short probes leave room for in the
// budget: the rate they settle on and two steps down. A rate that passes a
// two-second probe can collapse over a hold when the machine, not the
// gateway, is the limit: on 2 cores the concurrent gateway passed 4,000
// req/s for 2 s, then failed to hold 4,000 and 3,200, and a search that
// had kept room for two holds found none.
const HoldsKept = 3

// Defaults of a Search's settings left at zero.
const (
	// DefaultMinSamples is the fewest requests a p99 can pass on.
	DefaultMinSamples = 1000
	// DefaultHold is how long the found rate must hold.
	DefaultHold = 10 * time.Second
	// DefaultTrendTolerance is how far latency may rise over a hold, as a
	// fraction of the SLO's p99: a quarter of it. Noise on a shared
	// machine moves the fitted slope a little; a queue that builds moves
	// it by far more (the pool's 17 ms/s is 170 ms over ten seconds
	// against a 200 ms SLO).
	DefaultTrendTolerance = 0.25
)

// SLO is what a probe must meet to pass.
type SLO struct {
	P99     time.Duration // the 99th percentile latency must not exceed it
	Success float64       // the fraction of complete answers must reach it
}

// Outcome is what a probe measured.
type Outcome struct {
	P99 time.Duration
	// Success is the fraction of requests that got a complete answer.
	Success  float64
	Requests int
	// Limited is true when the load generator fell short of the rate.
	Limited bool
	// Saturated is true when the load side (the generator and the
	// backends it shares CPUs with) ran out of CPU: the probe measured
	// it, whatever the server did.
	Saturated bool
	// Slope is the trend of latency over the probe, in seconds of latency
	// per second of probe.
	Slope float64
}

// Point is the outcome of one probe.
type Point struct {
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
	P99      time.Duration `json:"p99"`
	Success  float64       `json:"success"`
	Requests int           `json:"requests"`
	Limited  bool          `json:"generator_limited,omitempty"`
	// Saturated is Outcome.Saturated.
	Saturated bool    `json:"load_saturated,omitempty"`
	Slope     float64 `json:"latency_slope"`
	// Hold is true for a long probe confirming a rate.
	Hold bool `json:"hold,omitempty"`
	Pass bool `json:"pass"`
	// Why says why a probe failed: "p99 over the SLO", "success under
	// the SLO", "not enough samples", "generator-limited", "load
	// saturated", "latency rising".
	Why string `json:"why,omitempty"`
}

// A Probe offers rate for d and reports what it measured. It is called
// sequentially.
type Probe func(ctx context.Context, rate float64, d time.Duration) (Outcome, error)

// Search is one capacity search.
type Search struct {
	SLO SLO
	// Start is the first rate probed; Max the highest worth probing.
	Start, Max float64
	// Precision ends the bisection once hi-lo <= Precision*lo.
	Precision float64
	// Step is the length of a short probe, Hold of the one that confirms
	// a rate (0: DefaultHold). Either is lengthened, up to MaxProbe, when
	// the rate would give fewer than MinSamples requests.
	Step, Hold time.Duration
	// MaxProbe bounds the length of any probe (0: the longer of Step and
	// Hold). Below MinSamples/MaxProbe req/s no probe can gather enough
	// samples: the search reports its result as below that rate.
	MaxProbe time.Duration
	// MinSamples is the fewest requests a probe can pass on (0:
	// DefaultMinSamples).
	MinSamples int
	// TrendTolerance bounds the rise of latency over a hold (slope times
	// the hold's length) as a fraction of SLO.P99 (0:
	// DefaultTrendTolerance).
	TrendTolerance float64
	// Budget bounds the time of the whole search: each probe costs its
	// length plus Overhead (warm-up, starting a server). The short probes
	// keep room for HoldsKept holds.
	Budget, Overhead time.Duration
	Probe            Probe
	// OnPoint, if set, is called after each probe (for progress lines).
	OnPoint func(Point)
	// Round, if set, turns each rate the search picks into the rate
	// probed (whole requests per second, say); Points and the result hold
	// rounded rates.
	Round func(float64) float64
}

// Result is the outcome of a search.
type Result struct {
	// Capacity is the highest rate that held for HeldFor; 0 if none did.
	Capacity float64       `json:"capacity"`
	HeldFor  time.Duration `json:"held_for,omitempty"`
	// Searched is the rate the short probes settled on, before any hold.
	Searched float64 `json:"searched"`
	// Ceiling is the lowest rate that failed, short probe or hold; 0 if
	// none did (then the server passed at Max).
	Ceiling float64 `json:"ceiling"`
	// Floor, if not 0, is the lowest rate at which a probe within MaxProbe
	// gathers MinSamples requests; the search needed to go below it, so
	// the capacity is "below Floor req/s, not enough samples".
	Floor float64 `json:"floor,omitempty"`
	// Points are the probes in the order they ran.
	Points []Point `json:"points"`
	// Exhausted says the budget ran out before a rate held or the
	// precision was reached.
	Exhausted bool `json:"exhausted"`
	// LoadBound says that the probe at Ceiling failed because the load
	// side could not offer the rate (generator-limited, or load
	// saturated), not because the server missed the SLO: the server's
	// capacity is at least Capacity, and this machine could not find how
	// far above.
	LoadBound bool `json:"load_bound,omitempty"`
}

// Run performs the search. An error from the probe or ctx ends it.
func (s Search) Run(ctx context.Context) (Result, error) {
	var res Result
	if s.Start <= 0 || s.Max < s.Start || s.Step <= 0 || s.Budget <= 0 || s.Probe == nil {
		return res, fmt.Errorf("capacity search: need 0 < start <= max, a step, a budget and a probe func")
	}
	if s.Round == nil {
		s.Round = func(r float64) float64 { return r }
	}
	if s.Hold <= 0 {
		s.Hold = DefaultHold
	}
	if s.MaxProbe <= 0 {
		s.MaxProbe = max(s.Step, s.Hold)
	}
	if s.MinSamples <= 0 {
		s.MinSamples = DefaultMinSamples
	}
	if s.TrendTolerance <= 0 {
		s.TrendTolerance = DefaultTrendTolerance
	}
	floor := s.needed() / s.MaxProbe.Seconds()
	var spent time.Duration
	cost := func(d time.Duration) time.Duration { return d + s.Overhead }
	probe := func(rate float64, hold bool) (bool, error) {
		d := s.length(rate, hold)
		spent += cost(d)
		o, err := s.Probe(ctx, rate, d)
		if err != nil {
			return false, fmt.Errorf("capacity search at %.0f req/s: %w", rate, err)
		}
		pt := Point{Rate: rate, Duration: d, P99: o.P99, Success: o.Success, Requests: o.Requests,
			Limited: o.Limited, Saturated: o.Saturated, Slope: o.Slope, Hold: hold}
		pt.Why = s.judge(o, d, hold)
		pt.Pass = pt.Why == ""
		res.Points = append(res.Points, pt)
		if s.OnPoint != nil {
			s.OnPoint(pt)
		}
		return pt.Pass, nil
	}
	// Short probes keep room in the budget for HoldsKept holds: one to
	// confirm the rate they settle on, and steps down if it does not hold.
	// A budget too small for that beside one short probe keeps room for
	// fewer, one at least.
	kept := time.Duration(HoldsKept)
	for kept > 1 && cost(s.length(s.Start, false))+kept*cost(s.length(s.Start, true)) > s.Budget {
		kept--
	}
	room := func(rate float64) bool {
		return spent+cost(s.length(rate, false))+kept*cost(s.length(rate, true)) <= s.Budget
	}
	// shortProbe probes rate for one step where room allows; where it does
	// not, the budget is spent and the short probes are over.
	shortProbe := func(rate float64) (ok, spentOut bool, err error) {
		if !room(rate) {
			res.Exhausted = true
			return false, true, nil
		}
		ok, err = probe(rate, false)
		return ok, false, err
	}

	lo, hi := 0.0, 0.0 // highest pass, lowest fail (0: unknown)
	short := func() error {
		// Doubling: find a failing rate.
		for rate := s.Start; ; rate = min(rate*2, s.Max) {
			rate = max(s.Round(rate), above(floor))
			ok, spentOut, err := shortProbe(rate)
			if err != nil || spentOut {
				return err
			}
			if !ok {
				hi = rate
				break
			}
			lo = rate
			if rate >= s.Max {
				return nil
			}
		}
		// Bisection between lo (0 if even Start failed) and hi; never
		// below the floor, where no probe can pass.
		for hi-lo > s.Precision*max(lo, s.Start*s.Precision) {
			mid := max(s.Round((lo+hi)/2), above(floor))
			if mid >= hi {
				res.Floor = floor
				return nil // the floor itself failed
			}
			if mid <= lo {
				return nil // rounding leaves nothing between them
			}
			ok, spentOut, err := shortProbe(mid)
			if err != nil || spentOut {
				return err
			}
			if ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		return nil
	}
	if err := short(); err != nil {
		res.Ceiling = hi
		res.LoadBound = loadBound(res.Points, hi)
		return res, err
	}
	res.Searched = lo

	// Holds: confirm lo. Until a rate holds, each failure steps down by
	// twice the precision, at least 10 % (the short probes put the knee
	// close by); once one has, bisect between it and the lowest rate that
	// failed.
	held, cand := 0.0, lo
	for cand > 0 {
		if spent+cost(s.length(cand, true)) > s.Budget {
			res.Exhausted = true
			break
		}
		ok, err := probe(cand, true)
		if err != nil {
			res.Capacity, res.Ceiling = held, hi
			res.LoadBound = loadBound(res.Points, hi)
			return res, err
		}
		if ok {
			held, res.HeldFor = cand, s.length(cand, true)
		} else {
			hi = cand
		}
		if hi == 0 || hi-held <= s.Precision*max(held, s.Start*s.Precision) {
			break
		}
		next := s.Round((held + hi) / 2)
		if held == 0 {
			next = s.Round(cand * (1 - max(2*s.Precision, 0.1)))
		}
		next = max(next, above(floor))
		if next >= hi {
			if held == 0 {
				res.Floor = floor // the floor itself did not hold
			}
			break
		}
		if next <= held {
			break
		}
		cand = next
	}
	res.Capacity, res.Ceiling = held, hi
	res.LoadBound = loadBound(res.Points, hi)
	if held > 0 {
		res.Floor = 0 // a rate held: the floor no longer bounds the answer
	}
	return res, nil
}

// loadBound reports whether the lowest failing rate, ceiling, failed for
// the load side's sake: a failure of the server there would have shown at
// least once among the probes of that rate.
func loadBound(points []Point, ceiling float64) bool {
	if ceiling == 0 {
		return false
	}
	bound := false
	for _, p := range points {
		if p.Rate != ceiling || p.Pass {
			continue
		}
		if !p.Limited && !p.Saturated {
			return false
		}
		bound = true
	}
	return bound
}

// above returns the whole rate at or just above floor: the lowest rate worth
// probing.
func above(floor float64) float64 { return math.Ceil(floor) }

// length returns how long to probe rate: Step or Hold, longer if that gives
// fewer than MinSamples requests, never longer than MaxProbe.
func (s Search) length(rate float64, hold bool) time.Duration {
	d := s.Step
	if hold {
		d = s.Hold
	}
	need := time.Duration(math.Ceil(s.needed()/rate*10)) * 100 * time.Millisecond
	return min(max(d, need), max(s.MaxProbe, d))
}

// needed is how many requests a probe aims for: MinSamples and a margin of
// 2 %, as a generator may send one or two fewer than rate times length.
func (s Search) needed() float64 { return float64(s.MinSamples) * 1.02 }

// judge returns why a probe of length d fails, or "" if it passes.
func (s Search) judge(o Outcome, d time.Duration, hold bool) string {
	switch {
	case o.Limited:
		return "generator-limited"
	case o.Saturated:
		return "load saturated"
	case o.Requests < s.MinSamples:
		return "not enough samples"
	case o.Success < s.SLO.Success:
		return "success under the SLO"
	case o.P99 > s.SLO.P99:
		return "p99 over the SLO"
	case hold && o.Slope*d.Seconds() > s.TrendTolerance*s.SLO.P99.Seconds():
		return "latency rising"
	}
	return ""
}
