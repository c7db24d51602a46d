package stage

import (
	"strings"
	"testing"
	"time"
)

func TestParseExposition(t *testing.T) {
	text := `# HELP fanout_requests_in_flight Requests being served.
# TYPE fanout_requests_in_flight gauge
fanout_requests_in_flight 7
fanout_hedges_sent_total{call="results"} 3
fanout_hedges_sent_total{call="a b}c"} 4 1700000000000
fanout_requests_in_flight_other 99
go_goroutines 12
`
	got, err := parseExposition(strings.NewReader(text), map[string]bool{metricInFlight: true, "fanout_hedges_sent_total": true})
	if err != nil {
		t.Fatal(err)
	}
	// Rows: a gauge alone; a counter summed over label sets, one with a
	// brace and a space in its label and a timestamp; a longer name with
	// the same prefix is another metric.
	if got[metricInFlight] != 7 || got["fanout_hedges_sent_total"] != 7 || len(got) != 2 {
		t.Errorf("parsed %v, want in flight 7 and hedges 7", got)
	}
	if _, err := parseExposition(strings.NewReader("fanout_requests_in_flight seven\n"), map[string]bool{metricInFlight: true}); err == nil {
		t.Error("a value that is no number parsed")
	}
}

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
