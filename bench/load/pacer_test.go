package load

import (
	"context"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// sendTimes plays vegeta's attack loop against p for d, without the
// sleeping: the loop asks how long to wait, "waits", and sends, until the
// elapsed time is past d. It returns when each request left.
func sendTimes(p vegeta.Pacer, d time.Duration) []time.Duration {
	var out []time.Duration
	var elapsed time.Duration
	for hits := uint64(0); elapsed <= d; hits++ {
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			break
		}
		elapsed += wait
		if elapsed > d {
			break
		}
		out = append(out, elapsed)
	}
	return out
}

func TestPacerOneStepIsVegetasConstantPacer(t *testing.T) {
	// One step must send exactly when vegeta's own ConstantPacer does, so
	// that every scenario without a change of rate runs as it did.
	for _, rate := range []int{1, 50, 200, 400, 1000} {
		p, err := ConstantRate(float64(rate))
		if err != nil {
			t.Fatal(err)
		}
		got := sendTimes(p, 3*time.Second)
		want := sendTimes(vegeta.ConstantPacer{Freq: rate, Per: time.Second}, 3*time.Second)
		if len(got) != len(want) || len(got) != 3*rate {
			t.Fatalf("rate %d: %d requests, vegeta's pacer %d, want %d", rate, len(got), len(want), 3*rate)
		}
		for i := range got {
			if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("rate %d: request %d at %v, vegeta's at %v", rate, i, got[i], want[i])
			}
		}
	}
}

func TestPacerSteps(t *testing.T) {
	// 400/s for 12 s, then 100/s for 3 s: the overload scenario's drop.
	p, err := NewPacer([]Step{{0, 400}, {12 * time.Second, 100}})
	if err != nil {
		t.Fatal(err)
	}
	times := sendTimes(p, 15*time.Second)
	before, after := 0, 0
	for _, at := range times {
		if at <= 12*time.Second {
			before++
		} else {
			after++
		}
	}
	if before != 4800 || after != 300 {
		t.Errorf("%d requests up to 12 s and %d after, want 4800 at 400/s and 300 at 100/s", before, after)
	}
	// The last request of the first step leaves at its end, the first of
	// the second one spacing (10 ms) after.
	if last, first := times[4799], times[4800]; last != 12*time.Second || first != 12*time.Second+10*time.Millisecond {
		t.Errorf("requests 4800 and 4801 at %v and %v, want 12s and 12.01s", last, first)
	}
	// A generator that fell behind catches up at once: the requests it
	// owes are due now.
	if wait, _ := p.Pace(13*time.Second, 4800); wait != 0 {
		t.Errorf("after 13 s with 4800 sent (100 owed), wait %v, want 0", wait)
	}
	tests := []struct {
		from, to time.Duration
		want     float64
		why      string
	}{
		{0, 12 * time.Second, 400, "the first step alone"},
		{12 * time.Second, 15 * time.Second, 100, "the second step alone"},
		{0, 15 * time.Second, 340, "the whole run: (4800 + 300) / 15 s"},
		{13 * time.Second, 14 * time.Second, 100, "a window inside a step"},
		{11 * time.Second, 11 * time.Second, 400, "an empty window: the rate at its start"},
	}
	for _, tc := range tests {
		if got := p.Offered(tc.from, tc.to); got != tc.want {
			t.Errorf("Offered(%v, %v) = %v, want %v (%s)", tc.from, tc.to, got, tc.want, tc.why)
		}
	}
	if p.Rate(11*time.Second) != 400 || p.Rate(12*time.Second) != 100 || p.Rate(20*time.Second) != 100 {
		t.Errorf("Rate at 11 s, 12 s, 20 s: %v %v %v, want 400 100 100", p.Rate(11*time.Second), p.Rate(12*time.Second), p.Rate(20*time.Second))
	}
	if !strings.Contains(p.String(), "12s: 100/s") {
		t.Errorf("String() = %q", p.String())
	}
}

func TestNewPacerRejects(t *testing.T) {
	tests := []struct {
		steps []Step
		want  string
		why   string
	}{
		{nil, "no steps", "nothing to pace"},
		{[]Step{{time.Second, 10}}, "first step starts at 1s", "the start would have no rate"},
		{[]Step{{0, 10}, {2 * time.Second, 5}, {2 * time.Second, 8}}, "step 2 starts at 2s, not after step 1", "two rates at once"},
		{[]Step{{0, 10}, {time.Second, 0}}, "step 1 (from 1s) has rate 0", "a pause never sends the request vegeta waits for"},
		{[]Step{{0, -1}}, "rate -1", "a negative rate"},
	}
	for _, tc := range tests {
		_, err := NewPacer(tc.steps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.why, err, tc.want)
		}
	}
}

func TestRunPhaseRates(t *testing.T) {
	// 200/s for 600 ms, then 50/s: each phase's figures are over its own
	// rate and window, and the run's offered rate is their mean, which
	// a generator that keeps up achieves (it is not flagged as limited
	// for sending less than the first rate).
	srv := slowServer(t, 0, nil)
	rep, err := Run(context.Background(), Attack{
		Name: "drop", BaseURL: srv.URL, Rate: 200, Duration: 1200 * time.Millisecond,
		Targets:    []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
		Phases:     []time.Duration{600 * time.Millisecond, 900 * time.Millisecond},
		PhaseNames: []string{"busy", "calm", "settled"},
		PhaseRates: []float64{50, 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	busy, calm, settled := rep.Phases["busy"], rep.Phases["calm"], rep.Phases["settled"]
	if busy.Offered != 200 || calm.Offered != 50 || settled.Offered != 50 || rep.Offered != 125 {
		t.Errorf("offered busy %v, calm %v, settled %v, run %v: want 200, 50, 50 (0 keeps the rate) and 125",
			busy.Offered, calm.Offered, settled.Offered, rep.Offered)
	}
	// About 120, 15 and 15 requests; a request on a phase's edge may
	// land on either side of it by a hair of scheduling.
	near := func(got, want int) bool { return got >= want-3 && got <= want+3 }
	if !near(busy.Requests, 120) || !near(calm.Requests, 15) || !near(settled.Requests, 15) {
		t.Errorf("requests busy %d, calm %d, settled %d: want about 120, 15 and 15", busy.Requests, calm.Requests, settled.Requests)
	}
	if busy.Rate < 180 || calm.Rate > 70 || calm.Rate < 30 {
		t.Errorf("achieved busy %.1f/s, calm %.1f/s: want about 200 and 50", busy.Rate, calm.Rate)
	}
	// A fast server delivers each phase's own rate.
	if calm.Throughput < 30 || calm.Throughput > calm.Rate || busy.Throughput < 170 {
		t.Errorf("throughput busy %.1f/s, calm %.1f/s: want about 200 and 50", busy.Throughput, calm.Throughput)
	}
	if rep.Limited(rep.Offered) {
		t.Errorf("flagged generator-limited at %.1f/s sent of %.1f/s offered", rep.Rate, rep.Offered)
	}
}

func TestRunRejectsBadPhaseRates(t *testing.T) {
	base := Attack{
		Name: "bad", BaseURL: "http://127.0.0.1:1", Rate: 10, Duration: time.Second,
		Targets:    []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
		Phases:     []time.Duration{500 * time.Millisecond},
		PhaseNames: []string{"before", "after"},
	}
	tests := []struct {
		rates []float64
		want  string
	}{
		{[]float64{5, 5}, "1 phase offsets need 1 rates, have 2"},
		{[]float64{-5}, "phase after has rate -5"},
	}
	for _, tc := range tests {
		a := base
		a.PhaseRates = tc.rates
		if _, err := Run(context.Background(), a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rates %v: error %v, want %q", tc.rates, err, tc.want)
		}
	}
}
