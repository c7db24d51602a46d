package overload

import (
	"fmt"
	"math"
	"runtime/metrics"
	"time"
)

// schedLatencies is the runtime/metrics histogram of the time goroutines
// spent ready to run before they ran.
const schedLatencies = "/sched/latencies:seconds"

// queueQuantile is the quantile of the run-queue latency that Signal.Queue
// reports: a tail, because a saturated gateway delays some goroutines long
// before its mean moves, and the tail is what shed answers would wait.
const queueQuantile = 0.99

// schedSampled is how many of the goroutines' waits for a CPU the runtime
// measures one of: it tracks one transition in 8 (gTrackingPeriod in its
// sources), so the histogram's counts are an eighth of the waits, and the
// time they add up to is scaled back by it. TestSamplerSeesSaturation
// would notice a runtime that measured another share.
const schedSampled = 8

// sampler reads Signals: each reading covers the time since the previous
// one. It is used by one goroutine, the Limiter's ticker, and reuses its
// buffers, so that a reading allocates nothing.
type sampler struct {
	sample  [1]metrics.Sample
	prev    []uint64 // the histogram's counts at the previous reading
	delta   []uint64
	prevCPU time.Duration
	prevAt  time.Time
}

func newSampler() (*sampler, error) {
	s := &sampler{}
	s.sample[0].Name = schedLatencies
	metrics.Read(s.sample[:])
	if s.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil, fmt.Errorf("overload signal: runtime metric %s not supported", schedLatencies)
	}
	h := s.sample[0].Value.Float64Histogram()
	s.prev = append([]uint64(nil), h.Counts...)
	s.delta = make([]uint64, len(h.Counts))
	s.prevCPU, _ = processCPU()
	s.prevAt = time.Now()
	return s, nil
}

// read returns the Signal of the time since the previous reading.
func (s *sampler) read(now time.Time) Signal {
	metrics.Read(s.sample[:])
	h := s.sample[0].Value.Float64Histogram()
	for i, c := range h.Counts {
		s.delta[i] = c - s.prev[i]
		s.prev[i] = c
	}
	sig := Signal{Queue: quantile(s.delta, h.Buckets, queueQuantile), Busy: 1}
	wall := now.Sub(s.prevAt)
	if wall > 0 {
		sig.Depth = schedSampled * float64(waited(s.delta, h.Buckets)) / (float64(wall) * float64(procs()))
	}
	if cpu, ok := processCPU(); ok {
		if wall > 0 {
			sig.Busy = float64(cpu-s.prevCPU) / (float64(wall) * float64(procs()))
		}
		s.prevCPU = cpu
	}
	s.prevAt = now
	return sig
}

// waited returns the time that a histogram's counts add up to, each
// counted at the lower bound of its bucket: the time goroutines spent
// ready to run, waiting for a CPU, in all.
func waited(counts []uint64, buckets []float64) time.Duration {
	var sum float64
	for i, c := range counts {
		if lo := buckets[i]; c > 0 && lo > 0 && !math.IsInf(lo, 0) {
			sum += float64(c) * lo
		}
	}
	return time.Duration(sum * float64(time.Second))
}

// quantile returns the q quantile of a histogram's counts, whose bucket i
// spans buckets[i] to buckets[i+1] seconds, as the lower bound of the
// bucket it falls in: the runtime's buckets are a few percent wide, and the
// lower bound never takes a short queue for a long one. No counts: 0.
func quantile(counts []uint64, buckets []float64, q float64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for i, c := range counts {
		if cum += c; cum >= rank {
			lo := buckets[i]
			if math.IsInf(lo, -1) || lo < 0 {
				return 0
			}
			return time.Duration(lo * float64(time.Second))
		}
	}
	return 0
}
