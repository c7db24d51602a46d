package capacity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"fanout/bench/load"
	"fanout/bench/scenario"
)

// knee is a fake server: fine up to its knee, then latency explodes and
// requests start failing, as a saturated queue does.
func knee(at float64) Probe {
	return func(_ context.Context, rate float64) (time.Duration, float64, error) {
		if rate <= at {
			return 20 * time.Millisecond, 1, nil
		}
		over := rate / at
		return time.Duration(over * float64(2*time.Second)), 1 / over, nil
	}
}

var slo = SLO{P99: 100 * time.Millisecond, Success: 0.999}

func TestSearchFindsTheKnee(t *testing.T) {
	tests := []struct {
		name      string
		knee      float64
		start     float64
		max       float64
		precision float64
	}{
		// The usual case: double past the knee, then bisect.
		{"knee above start", 730, 50, 10000, 0.05},
		// The start rate already fails: bisect down towards zero.
		{"knee below start", 30, 100, 10000, 0.05},
		// The knee is exactly a doubling step.
		{"knee on a step", 400, 50, 10000, 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Search{SLO: slo, Start: tc.start, Max: tc.max, Precision: tc.precision, Probes: 40, Probe: knee(tc.knee)}
			res, err := s.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Capacity > tc.knee || res.Capacity < tc.knee*(1-2*tc.precision) {
				t.Errorf("capacity %.1f, want within %.0f%% below the knee %.0f (points %+v)", res.Capacity, 200*tc.precision, tc.knee, res.Points)
			}
			if res.Ceiling <= tc.knee {
				t.Errorf("ceiling %.1f at or below the knee %.0f", res.Ceiling, tc.knee)
			}
			if res.Exhausted {
				t.Error("budget reported exhausted")
			}
		})
	}
}

func TestSearchStopsAtMax(t *testing.T) {
	s := Search{SLO: slo, Start: 50, Max: 300, Precision: 0.05, Probes: 10, Probe: knee(1e9)}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 50, 100, 200, 300: every probe passes and the search ends at max.
	if res.Capacity != 300 || res.Ceiling != 0 || len(res.Points) != 4 {
		t.Fatalf("got %+v, want capacity 300 after 4 probes", res)
	}
}

func TestSearchBudget(t *testing.T) {
	s := Search{SLO: slo, Start: 50, Max: 1e6, Precision: 0.001, Probes: 6, Probe: knee(730)}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 50..800 takes 5 probes; one bisection probe is left.
	if !res.Exhausted || len(res.Points) != 6 {
		t.Fatalf("got %d probes, exhausted=%v; want 6 and true", len(res.Points), res.Exhausted)
	}
	if res.Capacity < 400 || res.Capacity > 730 {
		t.Fatalf("best so far %.0f, want between 400 and 730", res.Capacity)
	}
}

func TestSearchProbeError(t *testing.T) {
	boom := errors.New("gateway died")
	s := Search{SLO: slo, Start: 50, Max: 1000, Precision: 0.1, Probes: 10,
		Probe: func(context.Context, float64) (time.Duration, float64, error) { return 0, 0, boom }}
	if _, err := s.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("error %v, want the probe's", err)
	}
	if _, err := (Search{Start: 0}).Run(context.Background()); err == nil {
		t.Fatal("a search without a start rate ran")
	}
}

// TestSearchRealServer runs the search with real attacks against a server of
// two workers taking 20ms each: its knee is near 2/20ms = 100 req/s.
func TestSearchRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real attacks")
	}
	sem := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sem <- struct{}{}
		time.Sleep(20 * time.Millisecond)
		<-sem
	}))
	defer srv.Close()
	probe := func(ctx context.Context, rate float64) (time.Duration, float64, error) {
		rep, err := load.Run(ctx, load.Attack{Name: "probe", BaseURL: srv.URL, Rate: rate, Duration: 600 * time.Millisecond,
			Timeout: 2 * time.Second, Targets: []scenario.Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}}})
		if err != nil {
			return 0, 0, err
		}
		return rep.Latency.P99, rep.Success, nil
	}
	s := Search{SLO: SLO{P99: 200 * time.Millisecond, Success: 0.99}, Start: 25, Max: 1000, Precision: 0.15, Probes: 8, Probe: probe}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Generous bounds: the machine may be busy, but 25 req/s always
	// passes and 400 req/s (4x the knee) never does.
	if res.Capacity < 25 || res.Capacity >= 400 {
		t.Fatalf("capacity %.0f req/s, want between 25 and 400 (knee ~100); points %+v", res.Capacity, res.Points)
	}
}

func TestSearchRounds(t *testing.T) {
	s := Search{SLO: slo, Start: 50, Max: 10000, Precision: 0.001, Probes: 40, Probe: knee(730),
		Round: func(r float64) float64 { return float64(int(r + 0.5)) }}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Points {
		if p.Rate != float64(int(p.Rate)) {
			t.Fatalf("probe at %v, want whole rates", p.Rate)
		}
	}
	// Bisection stops when rounding leaves no rate between the bounds.
	if res.Capacity != 730 || res.Ceiling != 731 {
		t.Fatalf("capacity %v ceiling %v, want 730 and 731", res.Capacity, res.Ceiling)
	}
}
