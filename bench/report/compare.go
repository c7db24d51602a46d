package report

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"fanout/bench/result"
	"fanout/bench/scenario"
)

// figure is one comparable number of a run.
type figure struct {
	name   string
	get    func(*result.Run) float64
	format func(float64) string
	// lowerIsBetter decides the sign of "better"/"worse".
	lowerIsBetter bool
}

func msOf(d time.Duration) float64 { return result.Millis(d) }

var figures = []figure{
	{"p50 ms", func(r *result.Run) float64 { return msOf(r.Latency.P50) }, f2, true},
	{"p90 ms", func(r *result.Run) float64 { return msOf(r.Latency.P90) }, f2, true},
	{"p99 ms", func(r *result.Run) float64 { return msOf(r.Latency.P99) }, f2, true},
	{"p99.9 ms", func(r *result.Run) float64 { return msOf(r.Latency.P999) }, f2, true},
	{"max ms", func(r *result.Run) float64 { return msOf(r.Latency.Max) }, f2, true},
	{"throughput/s", func(r *result.Run) float64 { return r.Throughput }, f1, false},
	{"success %", func(r *result.Run) float64 { return 100 * r.Success }, f2, false},
	{"cpu/req ms", func(r *result.Run) float64 { return msOf(r.CPUPerRequest) }, f3, true},
	{"peak RSS MiB", func(r *result.Run) float64 { return float64(r.PeakRSS) / (1 << 20) }, f1, true},
	{"calls/req", func(r *result.Run) float64 { return r.CallsPerRequest }, f2, true},
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string { return fmt.Sprintf("%.2f", x) }
func f3(x float64) string { return fmt.Sprintf("%.3f", x) }

// Compare prints, for every mode and rate present in both a and b, each
// figure of a, of b, and the change from a to b.
func Compare(w io.Writer, a, b *result.Scenario, nameA, nameB string) error {
	fmt.Fprintf(w, "scenario %s\nA = %s\nB = %s\n", a.Name, nameA, nameB)
	if a.Name != b.Name {
		fmt.Fprintf(w, "warning: comparing scenario %s with %s\n", a.Name, b.Name)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "mode\trate\tfigure\tA\tB\tdelta\tchange\n")
	common := 0
	for _, ra := range a.Runs {
		if ra.Probe {
			continue
		}
		rb, ok := b.Run(ra.Variant, ra.Rate)
		if !ok {
			continue
		}
		common++
		for _, f := range figures {
			va, vb := f.get(&ra), f.get(rb)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ra.Variant, scenario.FormatRate(ra.Rate), f.name,
				f.format(va), f.format(vb), delta(va, vb), verdict(va, vb, f.lowerIsBetter))
		}
	}
	for _, ca := range a.Capacity {
		for _, cb := range b.Capacity {
			if ca.Variant == cb.Variant {
				common++
				fmt.Fprintf(tw, "%s\t\tcapacity req/s\t%.0f\t%.0f\t%s\t%s\n", ca.Variant, ca.Capacity, cb.Capacity,
					delta(ca.Capacity, cb.Capacity), verdict(ca.Capacity, cb.Capacity, false))
			}
		}
	}
	if a.Limits != nil && b.Limits != nil {
		fmt.Fprintf(tw, "limit\t\tcritical path p50 ms\t%s\t%s\t%s\t\n", f2(msOf(a.Limits.CriticalPath.P50)), f2(msOf(b.Limits.CriticalPath.P50)),
			delta(msOf(a.Limits.CriticalPath.P50), msOf(b.Limits.CriticalPath.P50)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if common == 0 {
		return fmt.Errorf("compare: no mode and rate in common")
	}
	return nil
}

func delta(a, b float64) string {
	if a == 0 {
		if b == 0 {
			return "0%"
		}
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b-a)/math.Abs(a))
}

// verdict flags changes beyond 5 %, which is within run-to-run noise on a
// shared laptop for latencies; smaller changes are left unmarked.
func verdict(a, b float64, lowerIsBetter bool) string {
	if a == 0 || math.Abs(b-a)/math.Abs(a) < 0.05 {
		return ""
	}
	if (b < a) == lowerIsBetter {
		return "better"
	}
	return "worse"
}
