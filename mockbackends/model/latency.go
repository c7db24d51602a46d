package model

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency kinds.
const (
	KindNone      = "none"
	KindFixed     = "fixed"
	KindUniform   = "uniform"
	KindNormal    = "normal"
	KindLognormal = "lognormal"
)

// Kinds lists the latency kinds in the order the documentation gives them.
var Kinds = []string{KindNone, KindFixed, KindUniform, KindNormal, KindLognormal}

// z99 is the standard normal quantile of 0.99: a lognormal with median p50
// reaches p99 at exp(ln(p50) + sigma*z99).
const z99 = 2.3263478740408408

// Latency is a latency model: a distribution of response delays plus an
// optional spike. The zero value (Kind "") behaves as "none".
//
// Only the fields of its kind may be set: fixed uses Value; uniform Min and
// Max; normal Mean and Stddev (samples floored at 0); lognormal P50 and P99.
type Latency struct {
	Kind   string   `yaml:"kind" json:"kind"`
	Value  Duration `yaml:"value,omitempty" json:"value,omitempty"`
	Min    Duration `yaml:"min,omitempty" json:"min,omitempty"`
	Max    Duration `yaml:"max,omitempty" json:"max,omitempty"`
	Mean   Duration `yaml:"mean,omitempty" json:"mean,omitempty"`
	Stddev Duration `yaml:"stddev,omitempty" json:"stddev,omitempty"`
	P50    Duration `yaml:"p50,omitempty" json:"p50,omitempty"`
	P99    Duration `yaml:"p99,omitempty" json:"p99,omitempty"`
	Spike  *Spike   `yaml:"spike,omitempty" json:"spike,omitempty"`
}

// Spike adds Delay to a sample with the given Probability (0..1).
type Spike struct {
	Probability float64  `yaml:"probability" json:"probability"`
	Delay       Duration `yaml:"delay" json:"delay"`
}

// None returns the model without delay.
func None() Latency { return Latency{Kind: KindNone} }

// Fixed returns the model that always delays by d.
func Fixed(d time.Duration) Latency { return Latency{Kind: KindFixed, Value: Duration(d)} }

// IsZero reports whether l never delays (kind none, or fixed 0 without spike).
func (l Latency) IsZero() bool {
	if l.Spike != nil && l.Spike.Probability > 0 && l.Spike.Delay > 0 {
		return false
	}
	switch l.Kind {
	case "", KindNone:
		return true
	case KindFixed:
		return l.Value == 0
	}
	return false
}

// fieldsOf names the duration fields each kind uses, in documentation order.
var fieldsOf = map[string][]string{
	"":            nil,
	KindNone:      nil,
	KindFixed:     {"value"},
	KindUniform:   {"min", "max"},
	KindNormal:    {"mean", "stddev"},
	KindLognormal: {"p50", "p99"},
}

// durationFields names the duration fields of a Latency, in the order of
// the struct.
var durationFields = []string{"value", "min", "max", "mean", "stddev", "p50", "p99"}

// field returns the duration field of l that name names, or nil for a name
// that is not one.
func (l *Latency) field(name string) *Duration {
	// In the order of durationFields.
	fields := [...]*Duration{&l.Value, &l.Min, &l.Max, &l.Mean, &l.Stddev, &l.P50, &l.P99}
	if i := slices.Index(durationFields, name); i >= 0 {
		return fields[i]
	}
	return nil
}

// Validate checks l. Errors are *FieldError values whose Path is the field
// of the latency at fault ("p99", "spike.probability").
func (l Latency) Validate() error {
	used, ok := fieldsOf[l.Kind]
	if !ok {
		return &FieldError{Path: "kind", Reason: fmt.Sprintf("unknown latency kind %q (known: %s)", l.Kind, strings.Join(Kinds, ", "))}
	}
	for _, f := range durationFields {
		v := *l.field(f)
		if v < 0 {
			return &FieldError{Path: f, Reason: fmt.Sprintf("negative duration %s", v)}
		}
		if v != 0 && !slices.Contains(used, f) {
			return &FieldError{Path: f, Reason: fmt.Sprintf("does not apply to latency kind %q (it uses %s)", kindName(l.Kind), usesText(l.Kind))}
		}
	}
	switch l.Kind {
	case KindUniform:
		if l.Max < l.Min {
			return &FieldError{Path: "max", Reason: fmt.Sprintf("max (%s) is below min (%s)", l.Max, l.Min)}
		}
	case KindLognormal:
		if l.P50 <= 0 {
			return &FieldError{Path: "p50", Reason: "must be greater than 0 for a lognormal"}
		}
		if l.P99 < l.P50 {
			return &FieldError{Path: "p99", Reason: fmt.Sprintf("p99 (%s) is below p50 (%s)", l.P99, l.P50)}
		}
	}
	if s := l.Spike; s != nil {
		if math.IsNaN(s.Probability) || s.Probability < 0 || s.Probability > 1 {
			return &FieldError{Path: "spike.probability", Reason: fmt.Sprintf("probability %v is outside 0..1", s.Probability)}
		}
		if s.Delay < 0 {
			return &FieldError{Path: "spike.delay", Reason: fmt.Sprintf("negative duration %s", s.Delay)}
		}
	}
	return nil
}

func kindName(k string) string {
	if k == "" {
		return KindNone
	}
	return k
}

func usesText(kind string) string {
	used := fieldsOf[kind]
	if len(used) == 0 {
		return "no fields"
	}
	return strings.Join(used, " and ")
}

// Sample draws one delay from the model. r supplies the randomness; if r is
// nil the process-wide generator of math/rand/v2 is used (unseeded). Sample
// does not validate l: invalid models give unspecified (but non-negative)
// delays.
func (l Latency) Sample(r *rand.Rand) time.Duration {
	var d float64
	switch l.Kind {
	case KindFixed:
		d = float64(l.Value)
	case KindUniform:
		d = float64(l.Min) + float64(l.Max-l.Min)*float64v(r)
	case KindNormal:
		d = float64(l.Mean) + float64(l.Stddev)*normv(r)
	case KindLognormal:
		if l.P50 > 0 {
			mu, sigma := l.lognormalParams()
			d = math.Exp(mu + sigma*normv(r))
		}
	}
	if d < 0 || math.IsNaN(d) {
		d = 0
	}
	if s := l.Spike; s != nil && s.Probability > 0 && float64v(r) < s.Probability {
		d += float64(s.Delay)
	}
	if d > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

func (l Latency) lognormalParams() (mu, sigma float64) {
	mu = math.Log(float64(l.P50))
	if l.P99 > l.P50 {
		sigma = (math.Log(float64(l.P99)) - mu) / z99
	}
	return mu, sigma
}

func float64v(r *rand.Rand) float64 {
	if r == nil {
		return rand.Float64()
	}
	return r.Float64()
}

func normv(r *rand.Rand) float64 {
	if r == nil {
		return rand.NormFloat64()
	}
	return r.NormFloat64()
}

// baseCDF is the probability that the model without its spike delays by at
// most d.
func (l Latency) baseCDF(d float64) float64 {
	if d < 0 {
		return 0
	}
	switch l.Kind {
	case KindFixed:
		if d >= float64(l.Value) {
			return 1
		}
		return 0
	case KindUniform:
		lo, hi := float64(l.Min), float64(l.Max)
		switch {
		case d >= hi:
			return 1
		case d < lo:
			return 0
		}
		return (d - lo) / (hi - lo)
	case KindNormal:
		if l.Stddev == 0 {
			if d >= float64(l.Mean) {
				return 1
			}
			return 0
		}
		return 0.5 * math.Erfc(-(d-float64(l.Mean))/(float64(l.Stddev)*math.Sqrt2))
	case KindLognormal:
		if l.P50 <= 0 {
			return 1
		}
		mu, sigma := l.lognormalParams()
		if sigma == 0 {
			if d >= float64(l.P50) {
				return 1
			}
			return 0
		}
		if d == 0 {
			return 0
		}
		return 0.5 * math.Erfc(-(math.Log(d)-mu)/(sigma*math.Sqrt2))
	}
	return 1
}

// CDF returns the probability that a sample is at most d, spike included.
func (l Latency) CDF(d time.Duration) float64 {
	x := float64(d)
	c := l.baseCDF(x)
	if s := l.Spike; s != nil && s.Probability > 0 {
		c = (1-s.Probability)*c + s.Probability*l.baseCDF(x-float64(s.Delay))
	}
	return c
}

// Quantile returns the q-quantile (0 < q < 1) of the model, spike included,
// computed from its distribution rather than by sampling. Bench and tests
// use it to compare delivered latencies with the model.
func (l Latency) Quantile(q float64) time.Duration {
	if q <= 0 {
		q = 1e-12
	}
	// Bisection on the CDF: monotone, and 64 rounds resolve a nanosecond
	// over any range that fits a Duration.
	hi := time.Duration(1)
	for l.CDF(hi) < q && hi < math.MaxInt64/2 {
		hi *= 2
	}
	lo := time.Duration(0)
	if l.CDF(0) >= q {
		return 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if l.CDF(mid) >= q {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// String returns the short form of l ("lognormal:p50=40ms,p99=200ms,spike=0.01@300ms").
func (l Latency) String() string {
	var b strings.Builder
	b.WriteString(kindName(l.Kind))
	for i, f := range fieldsOf[l.Kind] {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		if l.Kind == KindFixed {
			b.WriteString(l.Value.String())
			continue
		}
		fmt.Fprintf(&b, "%s=%s", f, *l.field(f))
	}
	if s := l.Spike; s != nil {
		if len(fieldsOf[l.Kind]) == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "spike=%s@%s", strconv.FormatFloat(s.Probability, 'g', -1, 64), s.Delay)
	}
	return b.String()
}

// ParseLatency parses the short form of a latency model:
//
//	none
//	fixed:20ms            (also "20ms" alone, or fixed:value=20ms)
//	uniform:min=5ms,max=15ms
//	normal:mean=20ms,stddev=5ms
//	lognormal:p50=40ms,p99=200ms
//
// Any form may end with ",spike=PROBABILITY@DELAY", e.g. ",spike=0.01@300ms"
// ("none:spike=0.01@300ms" for spikes alone). The result is validated.
func ParseLatency(spec string) (Latency, error) {
	l, err := parseLatency(spec)
	if err != nil {
		return Latency{}, fmt.Errorf("latency %q: %w", spec, err)
	}
	return l, nil
}

func parseLatency(spec string) (Latency, error) {
	spec = strings.TrimSpace(spec)
	kind, rest, hasParams := strings.Cut(spec, ":")
	kind = strings.TrimSpace(kind)
	if spec == "" {
		return Latency{}, fmt.Errorf("empty latency (want e.g. fixed:20ms)")
	}
	if !hasParams {
		if _, known := fieldsOf[kind]; !known {
			// A bare duration is a fixed latency.
			d, err := time.ParseDuration(kind)
			if err != nil {
				return Latency{}, fmt.Errorf("unknown latency kind %q (known: %s)", kind, strings.Join(Kinds, ", "))
			}
			l := Latency{Kind: KindFixed, Value: Duration(d)}
			return l, flatten(l.Validate())
		}
	}
	used, known := fieldsOf[kind]
	if !known || kind == "" {
		return Latency{}, fmt.Errorf("unknown latency kind %q (known: %s)", kind, strings.Join(Kinds, ", "))
	}
	l := Latency{Kind: kind}
	seen := map[string]bool{}
	if hasParams {
		for i, part := range strings.Split(rest, ",") {
			part = strings.TrimSpace(part)
			key, val, isKV := strings.Cut(part, "=")
			key = strings.TrimSpace(key)
			val = strings.TrimSpace(val)
			if !isKV {
				if i == 0 && kind == KindFixed {
					key, val = "value", part
				} else {
					return Latency{}, fmt.Errorf("parameter %q is not key=value", part)
				}
			}
			if seen[key] {
				return Latency{}, fmt.Errorf("parameter %q given twice", key)
			}
			seen[key] = true
			if key == "spike" {
				s, err := parseSpike(val)
				if err != nil {
					return Latency{}, err
				}
				l.Spike = &s
				continue
			}
			if !slices.Contains(used, key) {
				return Latency{}, fmt.Errorf("unknown parameter %q for kind %s (it uses %s, and spike)", key, kind, usesText(kind))
			}
			d, err := parseDuration(val)
			if err != nil {
				return Latency{}, fmt.Errorf("%s: %w", key, err)
			}
			*l.field(key) = d
		}
	}
	for _, f := range used {
		if !seen[f] {
			return Latency{}, fmt.Errorf("kind %s needs %s", kind, usesText(kind))
		}
	}
	return l, flatten(l.Validate())
}

// parseSpike reads "PROBABILITY@DELAY".
func parseSpike(s string) (Spike, error) {
	ps, ds, ok := strings.Cut(s, "@")
	if !ok {
		return Spike{}, fmt.Errorf("spike %q is not PROBABILITY@DELAY (e.g. 0.01@300ms)", s)
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(ps), 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return Spike{}, fmt.Errorf("spike probability %q is not a number in 0..1", ps)
	}
	d, err := parseDuration(strings.TrimSpace(ds))
	if err != nil {
		return Spike{}, fmt.Errorf("spike delay: %w", err)
	}
	return Spike{Probability: p, Delay: d}, nil
}

// flatten turns a *FieldError from Validate into a plain message for the
// short form, which has no field paths.
func flatten(err error) error {
	if fe, ok := err.(*FieldError); ok {
		return fmt.Errorf("%s: %s", fe.Path, fe.Reason)
	}
	return err
}

// latencyOut is the marshalled shape of a Latency: the fields of its kind
// are always written, even when zero ("fixed" with value "0s"), so the
// output decodes back strictly.
type latencyOut struct {
	Kind   string    `yaml:"kind" json:"kind"`
	Value  *Duration `yaml:"value,omitempty" json:"value,omitempty"`
	Min    *Duration `yaml:"min,omitempty" json:"min,omitempty"`
	Max    *Duration `yaml:"max,omitempty" json:"max,omitempty"`
	Mean   *Duration `yaml:"mean,omitempty" json:"mean,omitempty"`
	Stddev *Duration `yaml:"stddev,omitempty" json:"stddev,omitempty"`
	P50    *Duration `yaml:"p50,omitempty" json:"p50,omitempty"`
	P99    *Duration `yaml:"p99,omitempty" json:"p99,omitempty"`
	Spike  *Spike    `yaml:"spike,omitempty" json:"spike,omitempty"`
}

func (l Latency) out() latencyOut {
	o := latencyOut{Kind: kindName(l.Kind), Spike: l.Spike}
	ptr := func(d Duration) *Duration { return &d }
	switch l.Kind {
	case KindFixed:
		o.Value = ptr(l.Value)
	case KindUniform:
		o.Min, o.Max = ptr(l.Min), ptr(l.Max)
	case KindNormal:
		o.Mean, o.Stddev = ptr(l.Mean), ptr(l.Stddev)
	case KindLognormal:
		o.P50, o.P99 = ptr(l.P50), ptr(l.P99)
	}
	return o
}

// MarshalJSON writes l as an object with its kind and the kind's fields.
func (l Latency) MarshalJSON() ([]byte, error) { return json.Marshal(l.out()) }

// MarshalYAML writes l as a mapping with its kind and the kind's fields.
func (l Latency) MarshalYAML() (any, error) { return l.out(), nil }
