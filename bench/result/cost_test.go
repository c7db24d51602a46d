package result

import (
	"testing"
	"time"
)

// round is a round of 1000 requests, all answered, that took us
// microseconds of CPU each, with floor beside it (nil: none).
func round(us int, floor *CostRound) CostRound {
	return CostRound{Requests: 1000, Success: 1, CPU: time.Duration(us) * time.Millisecond, Allocs: -1, Floor: floor}
}

func spreadIs(t *testing.T, what string, got Spread, median, lo, hi float64, n int) {
	t.Helper()
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if !near(got.Median, median) || !near(got.Min, lo) || !near(got.Max, hi) || got.N != n {
		t.Errorf("%s = %+v, want median %v, range %v–%v over %d", what, got, median, lo, hi, n)
	}
}

// TestRatioBesideTheFloor: a round is divided by the floor's round that
// ran beside it, whatever the floor did at other times; a configuration
// is compared with another through their ratios to the floor, since
// their rounds ran at different times; and results of runs whose rounds
// were interleaved instead pair the rounds by their index.
func TestRatioBesideTheFloor(t *testing.T) {
	f1, f2, f3 := round(200, nil), round(300, nil), round(400, nil)
	g1, g2, g3 := round(100, nil), round(500, nil), round(250, nil)
	floor := CostRow{Name: "floor", Floor: true, Rounds: []CostRound{f1, f2, f3, g1, g2, g3}}
	// A machine twice as slow in the second round: the ratio holds.
	off := CostRow{Name: "off", Rounds: []CostRound{round(240, &f1), round(360, &f2), round(520, &f3)}}
	hedging := CostRow{Name: "hedging", Rounds: []CostRound{round(130, &g1), round(700, &g2), round(300, &g3)}}

	spreadIs(t, "off over the floor", off.Ratio(floor), 1.2, 1.2, 1.3, 3)
	spreadIs(t, "hedging over the floor", hedging.Ratio(floor), 1.3, 1.2, 1.4, 3)
	// Each of hedging's ratios to the floor over off's median (1.2).
	spreadIs(t, "hedging over off", hedging.Ratio(off), 1.3/1.2, 1, 1.4/1.2, 3)
	// The floor over off: the inverse of off's ratios to the floor beside
	// it, though the floor's first rounds ran beside hedging.
	floor.Rounds = []CostRound{g1, g2, g3, f1, f2, f3}
	spreadIs(t, "the floor over off", floor.Ratio(off), 1/1.2, 1/1.3, 1/1.2, 3)

	// A round that does not count, or whose floor's does not, is left out.
	bad := round(100, nil)
	bad.Success = 0.5
	off.Rounds = append(off.Rounds, round(900, &bad), CostRound{Requests: 1000, Success: 0.5, CPU: time.Second, Floor: &f1})
	spreadIs(t, "off over the floor, with rounds that do not count", off.Ratio(floor), 1.2, 1.2, 1.3, 3)

	// Interleaved rounds of an older run: paired by index.
	oldFloor := CostRow{Name: "floor", Floor: true, Rounds: []CostRound{round(200, nil), round(400, nil)}}
	oldOff := CostRow{Name: "off", Rounds: []CostRound{round(300, nil), round(500, nil)}}
	spreadIs(t, "an older run's off over the floor", oldOff.Ratio(oldFloor), 1.25, 1.25, 1.5, 2)
}
