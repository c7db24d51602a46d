// Package dist holds the bench's shapes of a latency distribution: the one
// quantile function, a distribution's statistics (Dist) and the ideal
// limits of a workload (Limits). It imports nothing of Fanout, so that
// the attack library (load), the results (result) and the report read
// distributions without importing the gateway, whose plans only the
// computation of the limits (package limits) needs.
package dist

import (
	"cmp"
	"math"
	"time"
)

// DefaultSamples is how many requests package limits simulates per batch;
// the report quotes it beside random limits.
const DefaultSamples = 20000

// Dist summarises a distribution of durations.
type Dist struct {
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Mean time.Duration `json:"mean"`
}

// Stat returns the named statistic: p50, p90, p99, p999 or mean.
func (d Dist) Stat(name string) (time.Duration, bool) {
	switch name {
	case "p50":
		return d.P50, true
	case "p90":
		return d.P90, true
	case "p99":
		return d.P99, true
	case "p999":
		return d.P999, true
	case "mean":
		return d.Mean, true
	}
	return 0, false
}

// Of returns the statistics of sorted (ascending); zero for no values.
// The observed distributions (load) and the simulated ones (limits) both
// come from it, so that they are computed alike and can be compared.
func Of(sorted []time.Duration) Dist {
	if len(sorted) == 0 {
		return Dist{}
	}
	var sum time.Duration
	for _, x := range sorted {
		sum += x
	}
	return Dist{
		P50: Quantile(sorted, 0.5), P90: Quantile(sorted, 0.9), P99: Quantile(sorted, 0.99), P999: Quantile(sorted, 0.999),
		Mean: sum / time.Duration(len(sorted)),
	}
}

// Limits are the ideal latencies of a workload, as package limits
// computes them.
type Limits struct {
	CriticalPath Dist `json:"critical_path"`
	Levels       Dist `json:"levels"`
	Sum          Dist `json:"sum"`
	// Fixed is true when every model involved is deterministic, so each
	// limit is one number.
	Fixed bool `json:"fixed"`
	// Samples is how many requests were simulated. Uncertainty is the
	// half-width of the 95 % confidence interval of the p50s and p99s, the
	// widest of them, relative to the figure (0.01: ±1 %); 0 when Fixed.
	// A measured figure within it of a limit is not a difference.
	Samples     int     `json:"samples"`
	Uncertainty float64 `json:"uncertainty"`
}

// Quantile returns the q-quantile of sorted (ascending) by the nearest-rank
// method: the value of rank ceil(q*n) among the n values, counted from 1, so
// it is always one of the values, never an interpolation (q = 0 gives the
// smallest). The rank ignores floating-point error below 1e-9 (0.07*100 is
// 7.000000000000001, rank 7). No values give 0.
//
// It is the one quantile of the bench: the observed figures (load) and the
// ideal ones (limits) both use it, so that they can be compared, and so
// do the medians of repeated rounds (result.Cost).
func Quantile[T cmp.Ordered](sorted []T, q float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	rank := int(math.Ceil(q*float64(len(sorted)) - 1e-9))
	return sorted[max(0, min(rank-1, len(sorted)-1))]
}
