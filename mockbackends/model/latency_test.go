package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLatency(t *testing.T) {
	ms := func(n float64) Duration { return Duration(n * float64(time.Millisecond)) }
	tests := []struct {
		spec string
		want Latency
	}{
		// Each row proves one accepted spelling of the short form.
		{"none", Latency{Kind: KindNone}},
		{"fixed:20ms", Latency{Kind: KindFixed, Value: ms(20)}},
		{"fixed:value=20ms", Latency{Kind: KindFixed, Value: ms(20)}},
		{"20ms", Latency{Kind: KindFixed, Value: ms(20)}},
		{" fixed: 1.5s ", Latency{Kind: KindFixed, Value: ms(1500)}},
		{"uniform:min=5ms,max=15ms", Latency{Kind: KindUniform, Min: ms(5), Max: ms(15)}},
		{"uniform:max=15ms, min=5ms", Latency{Kind: KindUniform, Min: ms(5), Max: ms(15)}},
		{"normal:mean=20ms,stddev=5ms", Latency{Kind: KindNormal, Mean: ms(20), Stddev: ms(5)}},
		{"lognormal:p50=40ms,p99=200ms", Latency{Kind: KindLognormal, P50: ms(40), P99: ms(200)}},
		{"lognormal:p50=40ms,p99=200ms,spike=0.01@300ms", Latency{Kind: KindLognormal, P50: ms(40), P99: ms(200), Spike: &Spike{0.01, ms(300)}}},
		{"fixed:0s,spike=1@1ms", Latency{Kind: KindFixed, Spike: &Spike{1, ms(1)}}},
		{"none:spike=0.5@10ms", Latency{Kind: KindNone, Spike: &Spike{0.5, ms(10)}}},
	}
	for _, tt := range tests {
		got, err := ParseLatency(tt.spec)
		if err != nil {
			t.Errorf("ParseLatency(%q): %v", tt.spec, err)
			continue
		}
		if got.String() != tt.want.String() || !equalSpike(got.Spike, tt.want.Spike) {
			t.Errorf("ParseLatency(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
		// String gives a short form that parses back to the same model.
		back, err := ParseLatency(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("%q: String %q does not round-trip: %v", tt.spec, got.String(), err)
		}
	}
}

func equalSpike(a, b *Spike) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestParseLatencyErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		// Each row proves one rejected spelling and what the error says.
		{"", "empty"},
		{"pareto:alpha=1", "unknown latency kind"},
		{"slow", "unknown latency kind"},
		{"fixed", "needs value"},
		{"fixed:", "want a duration"},
		{"fixed:-5ms", "negative"},
		{"uniform:min=5ms", "needs min and max"},
		{"uniform:min=5ms,max=1ms", "below min"},
		{"uniform:min=5ms,min=6ms,max=9ms", "twice"},
		{"normal:mean=5ms,stddev=1ms,p99=3ms", "unknown parameter"},
		{"normal:mean=5ms,1ms", "not key=value"},
		{"lognormal:p50=40ms,p99=20ms", "below p50"},
		{"lognormal:p50=0s,p99=20ms", "greater than 0"},
		{"fixed:1ms,spike=0.5", "PROBABILITY@DELAY"},
		{"fixed:1ms,spike=2@1ms", "0..1"},
		{"fixed:1ms,spike=NaN@1ms", "0..1"},
		{"fixed:1ms,spike=0.1@-1ms", "negative"},
		{"fixed:20", "want a duration"},
	}
	for _, tt := range tests {
		_, err := ParseLatency(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseLatency(%q) error = %v, want one containing %q", tt.spec, err, tt.want)
		}
	}
}

// quantiles returns the q-quantiles of n samples of l.
func quantiles(l Latency, n int, seed uint64, qs ...float64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 7))
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = l.Sample(r)
	}
	slices.Sort(s)
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		out[i] = s[int(q*float64(n-1))]
	}
	return out
}

func TestSampleMatchesModel(t *testing.T) {
	// Every model is sampled many times; the sample's quantiles must match
	// the model's analytic quantiles (and, where the model names them, its
	// own parameters) within 2 %.
	models := []struct {
		spec   string
		checks map[float64]time.Duration // quantiles the parameters define
	}{
		{"fixed:20ms", map[float64]time.Duration{0.5: 20 * time.Millisecond, 0.99: 20 * time.Millisecond}},
		{"uniform:min=5ms,max=15ms", map[float64]time.Duration{0.5: 10 * time.Millisecond, 0.9: 14 * time.Millisecond}},
		{"normal:mean=20ms,stddev=5ms", map[float64]time.Duration{0.5: 20 * time.Millisecond, 0.8413: 25 * time.Millisecond}},
		{"lognormal:p50=40ms,p99=200ms", map[float64]time.Duration{0.5: 40 * time.Millisecond, 0.99: 200 * time.Millisecond}},
		{"lognormal:p50=10ms,p99=10ms", map[float64]time.Duration{0.5: 10 * time.Millisecond, 0.99: 10 * time.Millisecond}},
		{"fixed:10ms,spike=0.05@100ms", map[float64]time.Duration{0.5: 10 * time.Millisecond, 0.99: 110 * time.Millisecond}},
		{"none", map[float64]time.Duration{0.5: 0, 0.99: 0}},
	}
	const n = 200_000
	for _, m := range models {
		l, err := ParseLatency(m.spec)
		if err != nil {
			t.Fatal(err)
		}
		qs := []float64{0.1, 0.5, 0.9, 0.99}
		for q := range m.checks {
			qs = append(qs, q)
		}
		got := quantiles(l, n, 1, qs...)
		for i, q := range qs {
			want := l.Quantile(q)
			if p, ok := m.checks[q]; ok && !near(want, p, 0.002) {
				t.Errorf("%s: Quantile(%v) = %v, want %v", m.spec, q, want, p)
			}
			if !near(got[i], want, 0.02) {
				t.Errorf("%s: sampled q%v = %v, model says %v", m.spec, q, got[i], want)
			}
		}
	}
}

func near(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)+float64(10*time.Microsecond)
}

func TestSampleNormalFloorsAtZero(t *testing.T) {
	l := Latency{Kind: KindNormal, Mean: Duration(time.Millisecond), Stddev: Duration(10 * time.Millisecond)}
	r := rand.New(rand.NewPCG(3, 3))
	zeros := 0
	for range 10_000 {
		d := l.Sample(r)
		if d < 0 {
			t.Fatalf("negative sample %v", d)
		}
		if d == 0 {
			zeros++
		}
	}
	// P(N(1, 10) < 0) is about 0.46.
	if zeros < 4000 || zeros > 5200 {
		t.Errorf("%d of 10000 samples floored at 0, want about 4600", zeros)
	}
	if q := l.Quantile(0.3); q != 0 {
		t.Errorf("Quantile(0.3) = %v, want 0 (floor)", q)
	}
}

func TestSampleIsSeeded(t *testing.T) {
	l, _ := ParseLatency("lognormal:p50=40ms,p99=200ms,spike=0.1@1s")
	a := rand.New(rand.NewPCG(42, 1))
	b := rand.New(rand.NewPCG(42, 1))
	for range 100 {
		if l.Sample(a) != l.Sample(b) {
			t.Fatal("same seed, different samples")
		}
	}
	if l.Sample(nil) < 0 {
		t.Fatal("nil generator")
	}
}

func TestValidateLatency(t *testing.T) {
	ms := Duration(time.Millisecond)
	tests := []struct {
		name string
		l    Latency
		path string // "" when valid
	}{
		{"zero value is none", Latency{}, ""},
		{"fixed", Latency{Kind: KindFixed, Value: ms}, ""},
		{"unknown kind", Latency{Kind: "weibull"}, "kind"},
		{"field of another kind", Latency{Kind: KindFixed, Min: ms}, "min"},
		{"negative", Latency{Kind: KindNormal, Mean: -ms}, "mean"},
		{"uniform max below min", Latency{Kind: KindUniform, Min: 2 * ms, Max: ms}, "max"},
		{"lognormal p99 below p50", Latency{Kind: KindLognormal, P50: 2 * ms, P99: ms}, "p99"},
		{"spike probability", Latency{Kind: KindNone, Spike: &Spike{Probability: -1}}, "spike.probability"},
		{"spike delay", Latency{Kind: KindNone, Spike: &Spike{Probability: 0.1, Delay: -ms}}, "spike.delay"},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		if tt.path == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		fe, ok := err.(*FieldError)
		if !ok || fe.Path != tt.path {
			t.Errorf("%s: err = %v, want path %q", tt.name, err, tt.path)
		}
	}
}

func TestIsZero(t *testing.T) {
	for _, tt := range []struct {
		spec string
		zero bool
	}{{"none", true}, {"fixed:0s", true}, {"fixed:1ms", false}, {"none:spike=0.1@1ms", false}, {"uniform:min=0s,max=0s", false}} {
		l, err := ParseLatency(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if l.IsZero() != tt.zero {
			t.Errorf("%s: IsZero = %v", tt.spec, !tt.zero)
		}
	}
}
