// Package capacity finds the highest request rate a server sustains within a
// service-level objective: doubling from a start rate until a probe fails,
// then bisecting between the last passing and the first failing rate, within
// a budget of probes.
package capacity

import (
	"context"
	"fmt"
	"time"
)

// SLO is what a probe must meet to pass.
type SLO struct {
	P99     time.Duration // the 99th percentile latency must not exceed it
	Success float64       // the fraction of successful requests must reach it
}

// Point is the outcome of one probe.
type Point struct {
	Rate    float64       `json:"rate"`
	P99     time.Duration `json:"p99"`
	Success float64       `json:"success"`
	Pass    bool          `json:"pass"`
}

// A Probe offers rate for a while and reports p99 and success. It is called
// sequentially.
type Probe func(ctx context.Context, rate float64) (p99 time.Duration, success float64, err error)

// Search is one capacity search.
type Search struct {
	SLO SLO
	// Start is the first rate probed; Max the highest worth probing.
	Start, Max float64
	// Precision ends the bisection once hi-lo <= Precision*lo.
	Precision float64
	// Probes bounds the number of probes (the time budget divided by the
	// duration of one probe).
	Probes int
	Probe  Probe
	// OnPoint, if set, is called after each probe (for progress lines).
	OnPoint func(Point)
	// Round, if set, turns each rate the search picks into the rate
	// probed (whole requests per second, say); Points and the result hold
	// rounded rates.
	Round func(float64) float64
}

// Result is the outcome of a search.
type Result struct {
	// Capacity is the highest rate that passed; 0 if none did.
	Capacity float64 `json:"capacity"`
	// Ceiling is the lowest rate that failed; 0 if none did (then the
	// server passed at Max).
	Ceiling float64 `json:"ceiling"`
	// Points are the probes in the order they ran.
	Points []Point `json:"points"`
	// Exhausted says the budget ran out before the precision was reached.
	Exhausted bool `json:"exhausted"`
}

// Run performs the search. An error from the probe or ctx ends it.
func (s Search) Run(ctx context.Context) (Result, error) {
	var res Result
	if s.Start <= 0 || s.Max < s.Start || s.Probes < 1 || s.Probe == nil {
		return res, fmt.Errorf("capacity search: need 0 < start <= max, at least one probe and a probe func")
	}
	round := s.Round
	if round == nil {
		round = func(r float64) float64 { return r }
	}
	probe := func(rate float64) (bool, error) {
		p99, success, err := s.Probe(ctx, rate)
		if err != nil {
			return false, fmt.Errorf("capacity search at %.0f req/s: %w", rate, err)
		}
		pt := Point{Rate: rate, P99: p99, Success: success, Pass: p99 <= s.SLO.P99 && success >= s.SLO.Success}
		res.Points = append(res.Points, pt)
		if s.OnPoint != nil {
			s.OnPoint(pt)
		}
		return pt.Pass, nil
	}
	lo, hi := 0.0, 0.0 // highest pass, lowest fail (0: unknown)
	// Doubling: find a failing rate.
	for rate := s.Start; ; rate = min(rate*2, s.Max) {
		if len(res.Points) == s.Probes {
			res.Exhausted = true
			res.Capacity, res.Ceiling = lo, hi
			return res, nil
		}
		rate = round(rate)
		ok, err := probe(rate)
		if err != nil {
			res.Capacity, res.Ceiling = lo, hi
			return res, err
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
		if rate >= s.Max {
			res.Capacity = lo
			return res, nil
		}
	}
	// Bisection between lo (0 if even Start failed) and hi.
	for hi-lo > s.Precision*max(lo, s.Start*s.Precision) {
		if len(res.Points) == s.Probes {
			res.Exhausted = true
			break
		}
		mid := round((lo + hi) / 2)
		if mid <= lo || mid >= hi {
			break // rounding leaves nothing between them
		}
		ok, err := probe(mid)
		if err != nil {
			res.Capacity, res.Ceiling = lo, hi
			return res, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	res.Capacity, res.Ceiling = lo, hi
	return res, nil
}
