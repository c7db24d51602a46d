package dist

import (
	"testing"
	"time"
)

// TestQuantile pins the nearest-rank definition: the q-quantile of n sorted
// values is the value of rank ceil(q*n), counted from 1.
func TestQuantile(t *testing.T) {
	ten := make([]time.Duration, 10)
	hundred := make([]time.Duration, 100)
	for i := range ten {
		ten[i] = time.Duration(i + 1)
	}
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		// No values has no quantile; 0 stands for it.
		{"empty", nil, 0.5, 0},
		// One value is every quantile.
		{"one value", []time.Duration{7}, 0.99, 7},
		// q = 0 is the smallest value, not a rank of 0.
		{"q 0", ten, 0, 1},
		{"median of ten", ten, 0.5, 5},
		// 0.07*100 is 7.000000000000001 in floating point: the rank
		// is still 7, not 8.
		{"rank exact above", hundred, 0.07, 7},
		{"rank exact above again", hundred, 0.14, 14},
		{"between ranks rounds up", ten, 0.55, 6},
		{"p99 of ten is the largest", ten, 0.99, 10},
		{"p99 of a hundred", hundred, 0.99, 99},
		// 0.29*100 is 28.999999999999996: rank 29.
		{"rank exact below", hundred, 0.29, 29},
		{"p999 of a hundred is the largest", hundred, 0.999, 100},
		{"q 1 is the largest", hundred, 1, 100},
	} {
		if got := Quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: Quantile(%d values, %v) = %v, want %v", tc.name, len(tc.sorted), tc.q, got, tc.want)
		}
	}
}
