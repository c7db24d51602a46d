package demo

import (
	"math"
	"testing"
	"time"

	"fanout/bench/load"
)

// TestStepThroughputNotAboveOffered: vegeta's throughput divides the
// answers by the time to the last one, which on a short step can be more
// than was offered; a step's throughput never is, a queue that drains
// after the step shows its real pace, and, as in the bench, only complete
// answers count.
func TestStepThroughputNotAboveOffered(t *testing.T) {
	tests := []struct {
		name   string
		rep    load.Summary
		rate   int
		window time.Duration
		want   float64
	}{
		// Three answers within 420 ms of a 6/s step of 400 ms: vegeta
		// says 7.1/s; the offered 6/s caps it.
		{"few requests", load.Summary{Requests: 3, Success: 1, Complete: 1, Span: 420 * time.Millisecond, Throughput: 7.1}, 6, 400 * time.Millisecond, 6},
		// Answers within the step: the step is the window.
		{"short span", load.Summary{Requests: 3, Success: 1, Complete: 1, Span: 250 * time.Millisecond, Throughput: 12}, 10, 400 * time.Millisecond, 7.5},
		// Half failed: half the rate.
		{"half failed", load.Summary{Requests: 100, Success: 0.5, Complete: 0.5, Failed: 0.5, Span: 2 * time.Second, Throughput: 25}, 50, 2 * time.Second, 25},
		// One call at a time: 8 requests offered in 400 ms drain over
		// 680 ms, 11.8/s, the lock's pace.
		{"queue drains", load.Summary{Requests: 8, Success: 1, Complete: 1, Span: 680 * time.Millisecond, Throughput: 11.8}, 18, 400 * time.Millisecond, 8 / 0.68},
		// Half the pages partial: every answer a success, half of them
		// throughput, as in the bench.
		{"half partial", load.Summary{Requests: 100, Success: 1, Complete: 0.5, Partial: 0.5, Span: 2 * time.Second, Throughput: 25}, 50, 2 * time.Second, 25},
	}
	for _, tc := range tests {
		st := stepOf(&load.Report{Summary: tc.rep}, tc.rate, tc.window)
		if math.Abs(st.Throughput-tc.want) > 1e-9 {
			t.Errorf("%s: throughput %.2f/s, want %.2f/s", tc.name, st.Throughput, tc.want)
		}
		if st.Throughput > float64(tc.rate) {
			t.Errorf("%s: throughput %.2f/s above the offered %d/s", tc.name, st.Throughput, tc.rate)
		}
	}
}

func TestLoadRates(t *testing.T) {
	// The default models: 85 ms of backend time per results page, so one
	// lock serves about 11.8 requests/s.
	sum := 85 * time.Millisecond
	got := loadRates(sum, DefaultLoadFactors)
	capacity := 1 / sum.Seconds()
	if len(got) != len(DefaultLoadFactors) {
		t.Fatalf("rates %v for factors %v", got, DefaultLoadFactors)
	}
	if float64(got[0]) >= capacity {
		t.Errorf("first rate %d/s not under blocking's capacity %.1f/s", got[0], capacity)
	}
	if float64(got[1]) <= capacity {
		t.Errorf("second rate %d/s not past blocking's capacity %.1f/s", got[1], capacity)
	}
	if top := float64(got[len(got)-1]); top <= float64(DefaultPoolSize)*capacity {
		t.Errorf("top rate %.0f/s does not pass the pool of %d's capacity %.0f/s", top, DefaultPoolSize, float64(DefaultPoolSize)*capacity)
	}
	// Slower backends, lower rates; tiny factors still give rising rates.
	if slow := loadRates(2*sum, DefaultLoadFactors); slow[0] >= got[0] && slow[len(slow)-1] >= got[len(got)-1] {
		t.Errorf("rates %v for %v of backend time, %v for %v", slow, 2*sum, got, sum)
	}
	if r := loadRates(time.Second, []float64{0.1, 0.2, 0.3}); r[0] != 1 || r[1] != 2 || r[2] != 3 {
		t.Errorf("rates %v, want 1, 2, 3", r)
	}
}
