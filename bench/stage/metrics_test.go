package stage

import (
	"testing"
	"time"
)

// TestCounterRates: a counter's rate is its increase per second; a counter
// that went down (a restarted gateway) starts over at 0, never negative.
func TestCounterRates(t *testing.T) {
	var c counterRates
	t0 := time.Now()
	hedges := policyCounters["hedges"]
	if r := c.rates(t0, map[string]float64{hedges: 100}); r["hedges"] != 0 {
		t.Errorf("first reading: %v/s, want 0", r["hedges"])
	}
	if r := c.rates(t0.Add(500*time.Millisecond), map[string]float64{hedges: 110}); r["hedges"] != 20 {
		t.Errorf("10 more in half a second: %v/s, want 20", r["hedges"])
	}
	if r := c.rates(t0.Add(time.Second), map[string]float64{hedges: 3}); r["hedges"] != 0 {
		t.Errorf("after a restart: %v/s, want 0", r["hedges"])
	}
	if r := c.rates(t0.Add(2*time.Second), map[string]float64{hedges: 8}); r["hedges"] != 5 {
		t.Errorf("5 more in a second after the restart: %v/s, want 5", r["hedges"])
	}
	if _, ok := c.rates(t0.Add(3*time.Second), map[string]float64{})["hedges"]; ok {
		t.Error("a counter the gateway does not expose got a rate")
	}
}
