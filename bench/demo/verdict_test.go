package demo

import (
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	slo := 200 * time.Millisecond
	tests := []struct {
		name string
		step Step
		why  string // "" means not broken
	}{
		// Everything within bounds: holds.
		{"healthy", Step{Rate: 100, Throughput: 98, Success: 1, P99: 50 * time.Millisecond}, ""},
		// A slow tail alone breaks it.
		{"slow tail", Step{Rate: 100, Throughput: 98, Success: 1, P99: 300 * time.Millisecond}, "p99 300 ms > 200 ms"},
		// Errors alone break it.
		{"errors", Step{Rate: 100, Throughput: 95, Success: 0.95, P99: 50 * time.Millisecond}, "95% success"},
		// Serving well under the offered rate breaks it.
		{"falls behind", Step{Rate: 100, Throughput: 50, Success: 1, P99: 50 * time.Millisecond}, "serves 50 of 100/s"},
		// Every reason is listed.
		{"all", Step{Rate: 25, Throughput: 12, Success: 0.5, P99: 2 * time.Second}, "50% success, p99 2.00 s > 200 ms, serves 12 of 25/s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.step
			judge(&s, slo)
			if s.Broken != (tc.why != "") || s.Why != tc.why {
				t.Errorf("broken=%v why=%q, want why=%q", s.Broken, s.Why, tc.why)
			}
		})
	}
}

func TestVerdictsFollowTheMeasurements(t *testing.T) {
	o := DefaultOptions(nil)
	fastFirst := EventLoopRun{Slow: Interval{0, 300}, Fast: Interval{20, 120}}
	fastLast := EventLoopRun{Slow: Interval{0, 300}, Fast: Interval{20, 400}}
	tests := []struct {
		run  EventLoopRun
		mode string
		want string
	}{
		{fastFirst, "concurrent", "✓ fast finished first"},
		{fastLast, "concurrent", "? fast finished last here"},
		{fastLast, "blocking", "✗ fast finished last"},
		{fastFirst, "blocking", "? fast finished first here"},
	}
	for _, tc := range tests {
		tc.run.Mode = tc.mode
		if got := eventLoopVerdict(palette{}, tc.run, o); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s %+v: verdict %q, want it to start with %q", tc.mode, tc.run, got, tc.want)
		}
	}

	runs := []LoadRun{
		{Label: "pool of 16", Steps: []Step{{Rate: 100}, {Rate: 200, Broken: true}, {Rate: 400, Skipped: true}}},
		{Label: "concurrent", Steps: []Step{{Rate: 100}, {Rate: 200}, {Rate: 400}}},
	}
	if got := loadVerdict(palette{}, runs); !strings.Contains(got, "pool of 16 breaks at 200/s; concurrent holds every rate") {
		t.Errorf("load verdict %q", got)
	}
}
