package stage

import (
	"slices"
	"sync"
	"time"

	"fanout/bench/dist"
)

// Answer classes: what a client got for one request, counted apart as the
// bench counts them.
const (
	complete = iota // 2xx/3xx without load.PartialHeader
	partial         // 2xx/3xx with it: an optional part is missing
	failed          // another status, or no answer
)

// sample is one request of the stage's load, recorded when its answer (or
// its failure) arrived.
type sample struct {
	end     time.Time
	latency time.Duration
	class   int
}

// window keeps the samples of the last span of time and the Server-Timing
// header of the latest successful answer. It is fed by the load's result
// loop and read by the ticker that makes frames. Its methods are safe for
// concurrent use.
type window struct {
	span time.Duration

	mu      sync.Mutex
	samples []sample // in order of arrival, so by end time
	timing  string   // Server-Timing of the latest 2xx answer
	status  int      // and its status
}

// add records one sample; timing is the answer's Server-Timing header ("" for
// a failure or an answer without one).
func (w *window) add(s sample, timing string, status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples = append(w.samples, s)
	if timing != "" {
		w.timing, w.status = timing, status
	}
}

// figures are what one frame shows of the load: answers per second of the
// last second by class, and the latency percentiles over the window.
type figures struct {
	Complete, Partial, Failed float64
	P50, P99                  time.Duration
	// Samples is how many answers the percentiles are over (0: none, and
	// P50 and P99 mean nothing).
	Samples int
	Timing  string
	Status  int
}

// rateSpan is the stretch over which answers per second are counted: short
// enough that a change shows within a second, long enough to hold a few
// answers at a low rate.
const rateSpan = time.Second

// figures drops the samples older than the window at now and sums up the
// rest.
func (w *window) figures(now time.Time) figures {
	w.mu.Lock()
	cut := now.Add(-max(w.span, rateSpan))
	i, _ := slices.BinarySearchFunc(w.samples, cut, func(s sample, t time.Time) int { return s.end.Compare(t) })
	// The slice is reused: append shifts the kept samples to the front
	// rather than growing a new array every tick.
	w.samples = append(w.samples[:0], w.samples[i:]...)
	kept := slices.Clone(w.samples)
	f := figures{Timing: w.timing, Status: w.status}
	w.mu.Unlock()

	latCut, rateCut := now.Add(-w.span), now.Add(-rateSpan)
	lat := make([]time.Duration, 0, len(kept))
	var counts [3]int
	for _, s := range kept {
		if !s.end.Before(latCut) {
			lat = append(lat, s.latency)
		}
		if !s.end.Before(rateCut) {
			counts[s.class]++
		}
	}
	per := func(n int) float64 { return float64(n) / rateSpan.Seconds() }
	f.Complete, f.Partial, f.Failed = per(counts[complete]), per(counts[partial]), per(counts[failed])
	slices.Sort(lat)
	f.Samples = len(lat)
	f.P50, f.P99 = dist.Quantile(lat, 0.50), dist.Quantile(lat, 0.99)
	return f
}
