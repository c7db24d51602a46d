package report

import (
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
)

// logTicks marks a log axis so that its values can be read, not only
// compared: labels at 1, 2 and 5 times each power of ten, and more
// mantissas when the axis spans too little for those to be enough (on 35
// to 100 ms, 40, 50, 60, 70, 80 and 90 are labelled, so 40, 58 and 89 ms
// are told apart). Every whole mantissa gets an unlabelled minor tick.
// gonum's LogTicks labels only the powers of ten.
type logTicks struct{}

var _ plot.Ticker = logTicks{}

// mantissaSets go from sparse to dense; the first that labels at least
// minLogLabels ticks on the axis is used.
var mantissaSets = [][]float64{
	{1, 2, 5},
	{1, 2, 3, 5, 7},
	{1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 7, 8, 9},
}

// minLogLabels is how many labelled ticks an axis needs to be read.
const minLogLabels = 5

var wholeMantissas = []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}

// Ticks returns the ticks of [lo, hi]; an axis that is not positive gets
// none rather than a panic.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return nil
	}
	var labelled []float64
	for _, set := range mantissaSets {
		labelled = mantissaTicks(lo, hi, set)
		if len(labelled) >= minLogLabels {
			break
		}
	}
	if len(labelled) < 2 {
		// A sliver of a decade: label its ends.
		labelled = []float64{round3(lo), round3(hi)}
	}
	var ticks []plot.Tick
	for _, v := range labelled {
		ticks = append(ticks, plot.Tick{Value: v, Label: tickLabel(v)})
	}
	for _, v := range mantissaTicks(lo, hi, wholeMantissas) {
		if !slices.Contains(labelled, v) {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// mantissaTicks returns m×10^e for each mantissa m and every power of ten
// e that puts the value in [lo, hi].
func mantissaTicks(lo, hi float64, mantissas []float64) []float64 {
	var out []float64
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Ceil(math.Log10(hi))); e++ {
		for _, m := range mantissas {
			// Parse the decimal form so that 3×10^-1 is 0.3, not
			// 0.30000000000000004, and equal values compare equal.
			v, _ := strconv.ParseFloat(strconv.FormatFloat(m, 'f', -1, 64)+"e"+strconv.Itoa(e), 64)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				out = append(out, v)
			}
		}
	}
	return out
}

func round3(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return r
}

// tickLabel prints a value as plainly as it reads: 40, 0.5, 1500.
func tickLabel(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
