// Package compose builds the public results page of an experiment from the
// bodies of its backend calls. It parses the bodies with fastjson, reads
// only the fields it uses, copies the parts it does not transform, and
// writes the page without reflection: composition is the largest share of
// the gateway's CPU per results request.
package compose

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// DefaultConfidenceThreshold applies when the project's settings are missing.
const DefaultConfidenceThreshold = 0.95

// Input holds the bodies of the calls; nil means the call failed.
// Experiment and Results are required (Results unless NoResultsYet);
// Layer and Settings are optional.
// The bodies are only read, and not kept after ResultsPage returns.
type Input struct {
	Experiment []byte
	Layer      []byte
	Settings   []byte
	Results    []byte
	// NoResultsYet says that the results service has none for the
	// experiment yet (it answered 404 for an experiment that exists): the
	// page then has no metrics and results_status none_yet, and Results
	// is not read.
	NoResultsYet bool
	// Missing lists the calls that failed; ResultsPage appends the optional
	// parts it could not use, so that afterwards it lists every call the
	// page lacks.
	Missing []Missing
}

// Missing says which optional call's part is missing from the page, and why:
// a stable kind (unreachable, timeout, unavailable, bad_status, malformed,
// too_large) and a public detail that never carries the backend's bytes.
type Missing struct {
	Call   string `json:"call"`
	Status int    `json:"status,omitempty"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// KindMalformed is the kind of a part whose body composition cannot use.
const KindMalformed = "malformed"

// PartError is the failure to use a required part. Part is the call's name.
type PartError struct {
	Part string
	Err  error
}

func (e *PartError) Error() string { return fmt.Sprintf("%s: %v", e.Part, e.Err) }
func (e *PartError) Unwrap() error { return e.Err }

// parsers holds one fastjson parser per body: a parser's values live until
// its next Parse, and the page reads all four bodies at once.
type parsers struct {
	experiment, layer, settings, results fastjson.Parser
	variations                           []variation
}

var pool = sync.Pool{New: func() any { return new(parsers) }}

// variation is one variation's figures for one metric.
type variation struct {
	name                  []byte
	visitors, conversions int64
}

// ResultsPage appends the results page (the ResultsPage schema of the
// OpenAPI document) to dst. A required part that is missing, not JSON or
// without its ids is a *PartError; an optional one that is not usable is
// listed under missing.
func ResultsPage(dst []byte, in *Input) ([]byte, error) {
	ps := pool.Get().(*parsers)
	defer pool.Put(ps)

	exp, err := parseObject(&ps.experiment, in.Experiment)
	if err != nil {
		return dst, &PartError{Part: PartExperiment, Err: err}
	}
	var ids [3][]byte
	for i, key := range [3]string{"id", "project_id", "layer_id"} {
		if ids[i] = idText(exp.Get(key)); ids[i] == nil {
			return dst, &PartError{Part: PartExperiment, Err: fmt.Errorf("no %s", key)}
		}
	}
	var res *fastjson.Value
	if !in.NoResultsYet {
		if res, err = parseObject(&ps.results, in.Results); err != nil {
			return dst, &PartError{Part: PartResults, Err: err}
		}
	}
	missing := in.Missing

	b := append(dst, `{"experiment":{"id":`...)
	b = appendString(b, ids[0])
	b = append(b, `,"project_id":`...)
	b = appendString(b, ids[1])
	b = append(b, `,"layer_id":`...)
	b = appendString(b, ids[2])
	b = append(b, `,"name":`...)
	b = appendString(b, exp.GetStringBytes("name"))
	b = append(b, `,"status":`...)
	b = appendString(b, exp.GetStringBytes("status"))
	b = appendCopy(b, `,"variations":`, exp.Get("variations"), fastjson.TypeArray)
	b = appendCopy(b, `,"started_at":`, exp.Get("started_at"), fastjson.TypeString)
	b = appendCopy(b, `,"ended_at":`, exp.Get("ended_at"), fastjson.TypeString)

	b = append(b, `},"layer":`...)
	layerOK := false
	if in.Layer != nil {
		// The parser's error quotes the body: it stays out of the page.
		if layer, err := parseObject(&ps.layer, in.Layer); err != nil {
			missing = append(missing, Missing{Call: PartLayer, Kind: KindMalformed, Detail: "malformed body"})
		} else if id := idText(layer.Get("id")); id == nil {
			missing = append(missing, Missing{Call: PartLayer, Kind: KindMalformed, Detail: "malformed body: no id"})
		} else {
			layerOK = true
			b = appendLayer(b, id, layer, ids[0])
		}
	}
	if !layerOK {
		b = append(b, "null"...)
	}

	threshold, source := DefaultConfidenceThreshold, "default"
	if in.Settings != nil {
		settings, err := parseObject(&ps.settings, in.Settings)
		if err != nil {
			missing = append(missing, Missing{Call: PartSettings, Kind: KindMalformed, Detail: "malformed body"})
		} else if t := settings.Get("confidence_threshold"); t == nil || t.Type() != fastjson.TypeNumber ||
			t.GetFloat64() <= 0 || t.GetFloat64() >= 1 {
			missing = append(missing, Missing{Call: PartSettings, Kind: KindMalformed, Detail: "malformed body: no confidence_threshold in (0, 1)"})
		} else {
			threshold, source = t.GetFloat64(), "project"
		}
	}
	b = append(b, `,"significance":{"confidence_threshold":`...)
	b = appendFloat(b, threshold)
	b = append(b, `,"source":"`...)
	b = append(b, source...)
	b = append(b, `"},"metrics":[`...)
	z := zScore(threshold)
	// res is nil without results: GetArray of nil is empty.
	for i, m := range res.GetArray("metrics") {
		if i > 0 {
			b = append(b, ',')
		}
		b = ps.appendMetric(b, m, z, threshold)
	}
	b = append(b, `],"results_status":`...)
	if in.NoResultsYet {
		b = append(b, `"none_yet"`...)
	} else {
		b = append(b, `"available"`...)
	}
	b = append(b, `,"partial":`...)
	b = strconv.AppendBool(b, len(missing) > 0)
	b = append(b, `,"missing":[`...)
	for i, m := range missing {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"call":`...)
		b = appendString(b, m.Call)
		if m.Status != 0 {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(m.Status), 10)
		}
		if m.Kind != "" {
			b = append(b, `,"kind":`...)
			b = appendString(b, m.Kind)
		}
		b = append(b, `,"detail":`...)
		b = appendString(b, m.Detail)
		b = append(b, '}')
	}
	in.Missing = missing
	return append(b, "]}"...), nil
}

var errNotObject = errors.New("not a JSON object")

func parseObject(p *fastjson.Parser, body []byte) (*fastjson.Value, error) {
	if body == nil {
		return nil, errors.New("no body")
	}
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, err
	}
	if v.Type() != fastjson.TypeObject {
		return nil, errNotObject
	}
	return v, nil
}

// appendLayer writes the layer: its share of the project's traffic, this
// experiment's share of the layer (from the allocations), and the
// allocations as the layers service sent them.
func appendLayer(b, id []byte, layer *fastjson.Value, experimentID []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	if name := layer.GetStringBytes("name"); name != nil {
		b = append(b, `,"name":`...)
		b = appendString(b, name)
	}
	if t := layer.Get("traffic_allocation"); t != nil && t.Type() == fastjson.TypeNumber {
		b = append(b, `,"traffic_allocation":`...)
		b = appendFloat(b, t.GetFloat64())
	}
	b = append(b, `,"experiment_allocation":`...)
	found := false
	allocations := layer.Get("allocations")
	for _, a := range allocations.GetArray() {
		if string(idText(a.Get("experiment_id"))) == string(experimentID) {
			b = appendFloat(b, a.GetFloat64("traffic"))
			found = true
			break
		}
	}
	if !found {
		b = append(b, "null"...)
	}
	b = appendCopy(b, `,"allocations":`, allocations, fastjson.TypeArray)
	return append(b, '}')
}

// appendMetric compares every variation of a metric with the baseline (the
// one named, else the first): the lift of the conversion rate and its
// confidence interval at the threshold, by the normal approximation of the
// difference of two proportions, relative to the baseline's rate.
func (ps *parsers) appendMetric(b []byte, m *fastjson.Value, z, level float64) []byte {
	vs := ps.variations[:0]
	for _, v := range m.GetArray("variations") {
		name := v.GetStringBytes("key")
		if len(name) == 0 {
			name = idText(v.Get("variation_id"))
		}
		vs = append(vs, variation{name: name, visitors: v.GetInt64("visitors"), conversions: v.GetInt64("conversions")})
	}
	ps.variations = vs
	base := 0
	if want := m.GetStringBytes("baseline"); len(want) > 0 {
		for i := range vs {
			if string(vs[i].name) == string(want) {
				base = i
			}
		}
	}

	b = append(b, `{"id":`...)
	b = appendString(b, idText(m.Get("id")))
	for _, key := range [2]string{"key", "name"} {
		if s := m.GetStringBytes(key); len(s) > 0 {
			b = append(b, `,"`...)
			b = append(b, key...)
			b = append(b, `":`...)
			b = appendString(b, s)
		}
	}
	if len(vs) > 0 {
		b = append(b, `,"baseline":`...)
		b = appendString(b, vs[base].name)
	}
	b = append(b, `,"variations":[`...)
	var rb, nb float64
	if len(vs) > 0 {
		rb, nb = rate(vs[base].conversions, vs[base].visitors), float64(vs[base].visitors)
	}
	for i := range vs {
		v := &vs[i]
		if i > 0 {
			b = append(b, ',')
		}
		r := rate(v.conversions, v.visitors)
		b = append(b, `{"variation":`...)
		b = appendString(b, v.name)
		b = append(b, `,"visitors":`...)
		b = strconv.AppendInt(b, v.visitors, 10)
		b = append(b, `,"conversions":`...)
		b = strconv.AppendInt(b, v.conversions, 10)
		b = append(b, `,"rate":`...)
		b = appendFloat(b, round(r))
		if i == base || rb <= 0 || v.visitors <= 0 || nb <= 0 {
			b = append(b, `,"lift":null,"ci":null,"significant":false}`...)
			continue
		}
		n := float64(v.visitors)
		se := math.Sqrt(r*(1-r)/n + rb*(1-rb)/nb)
		lift, low, high := round((r-rb)/rb), round((r-rb-z*se)/rb), round((r-rb+z*se)/rb)
		b = append(b, `,"lift":`...)
		b = appendFloat(b, lift)
		b = append(b, `,"ci":{"low":`...)
		b = appendFloat(b, low)
		b = append(b, `,"high":`...)
		b = appendFloat(b, high)
		b = append(b, `,"level":`...)
		b = appendFloat(b, level)
		b = append(b, `},"significant":`...)
		b = strconv.AppendBool(b, low > 0 || high < 0)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func rate(conv, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(conv) / float64(n)
}

// zScore is the two-sided normal quantile of a confidence level:
// P(|Z| < z) = level.
func zScore(level float64) float64 { return math.Sqrt2 * math.Erfinv(level) }

// round keeps six decimals, enough for rates and lifts, and short bodies.
func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// idText is the text of an id sent as a JSON string or number; nil if it
// is neither.
func idText(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return s
	case fastjson.TypeNumber:
		return v.MarshalTo(nil)
	}
	return nil
}

// appendCopy appends key and v, re-encoded as it came, if v has the type
// or is null; anything else is left out.
func appendCopy(b []byte, key string, v *fastjson.Value, t fastjson.Type) []byte {
	if v == nil || (v.Type() != t && v.Type() != fastjson.TypeNull) {
		return b
	}
	b = append(b, key...)
	return v.MarshalTo(b)
}

// appendFloat appends a finite number; NaN and infinities, which JSON
// cannot carry, become 0.
func appendFloat(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, and <, >, & left
// alone (the page is JSON, never HTML).
func appendString[S string | []byte](b []byte, s S) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		var rune4 [utf8.UTFMax]byte
		r, size := utf8.DecodeRune(rune4[:copy(rune4[:], s[i:])])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
