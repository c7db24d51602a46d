package fanout

import "testing"

// TestBudgetBurst checks that a Budget saves up at most its burst of
// extra attempts however long the calm, counts what it allowed and
// refused, and refuses a ratio or a burst out of range.
func TestBudgetBurst(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		burst int
		calls int
		want  int64 // extra attempts allowed
	}{
		{1, 10, 1000, 10},  // a long calm: the burst, no more
		{0.1, 100, 55, 5},  // 55 calls earn 5 whole tokens
		{0.001, 1, 999, 0}, // not yet one token
		{0, 10, 1000, 0},   // off
	} {
		b, err := NewBudget(tc.ratio, tc.burst)
		if err != nil {
			t.Fatal(err)
		}
		for range tc.calls {
			b.Deposit()
		}
		var got int64
		for range tc.want + 1 {
			if b.Take() {
				got++
			}
		}
		if got != tc.want || b.Spent() != tc.want || b.Denied() != 1 {
			t.Errorf("ratio %v burst %d after %d calls: %d taken, spent %d denied %d; want %d, %d and 1",
				tc.ratio, tc.burst, tc.calls, got, b.Spent(), b.Denied(), tc.want, tc.want)
		}
		if b.Off() != (tc.ratio == 0) {
			t.Errorf("ratio %v: off %v", tc.ratio, b.Off())
		}
	}
	for _, bad := range []struct {
		ratio float64
		burst int
	}{{-0.1, 1}, {1.5, 1}, {0.1, 0}} {
		if _, err := NewBudget(bad.ratio, bad.burst); err == nil {
			t.Errorf("NewBudget(%v, %d) accepted", bad.ratio, bad.burst)
		}
	}
}
