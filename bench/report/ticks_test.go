package report

import (
	"slices"
	"testing"
)

func TestLogTicksLabels(t *testing.T) {
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	tests := []struct {
		lo, hi float64
		want   []string // labels that must be there
		min    int      // at least this many labels
	}{
		// The talk at one rate: 40 (critical path), 58 (staged), 89 (sequential).
		{35, 100, []string{"40", "50", "60", "70", "80", "90", "100"}, 7},
		// Several decades: 1-2-5 is enough.
		{1, 5000, []string{"1", "2", "5", "10", "20", "50", "100", "1000", "2000", "5000"}, 10},
		// Below one millisecond.
		{0.2, 3, []string{"0.2", "0.5", "1", "2"}, 5},
		// A sliver of a decade still gets two labels.
		{41, 41.5, nil, 2},
	}
	for _, tc := range tests {
		got := labels(tc.lo, tc.hi)
		if len(got) < tc.min {
			t.Errorf("[%v, %v]: labels %v, want at least %d", tc.lo, tc.hi, got, tc.min)
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("[%v, %v]: labels %v, want %s among them", tc.lo, tc.hi, got, w)
			}
		}
	}
	if ticks := (logTicks{}).Ticks(0, 10); ticks != nil {
		t.Errorf("a non-positive axis got ticks %v", ticks)
	}
}
