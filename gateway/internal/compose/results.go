// Package compose builds the public results page of an experiment from the
// bodies of its backend calls. It decodes only the fields it uses and
// copies the parts it does not transform as raw JSON.
package compose

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// DefaultConfidenceThreshold applies when the project's settings are missing.
const DefaultConfidenceThreshold = 0.95

// Input holds the bodies of the calls; nil means the call failed.
// Experiment and Results are required; Layer and Settings are optional.
type Input struct {
	Experiment []byte
	Layer      []byte
	Settings   []byte
	Results    []byte
	// Missing lists the calls that failed; composition adds the optional
	// parts it could not decode.
	Missing []Missing
}

// Missing says which optional call's part is missing from the page, and why.
type Missing struct {
	Call   string `json:"call"`
	Status int    `json:"status,omitempty"`
	Detail string `json:"detail"`
}

// PartError is the failure to decode a required part. Part is the call's name.
type PartError struct {
	Part string
	Err  error
}

func (e *PartError) Error() string { return fmt.Sprintf("%s: %v", e.Part, e.Err) }
func (e *PartError) Unwrap() error { return e.Err }

// What the backends send, as far as the page needs it.
type (
	experimentIn struct {
		ID         jsonID          `json:"id"`
		ProjectID  jsonID          `json:"project_id"`
		LayerID    jsonID          `json:"layer_id"`
		Name       string          `json:"name"`
		Status     string          `json:"status"`
		Variations json.RawMessage `json:"variations,omitempty"`
		StartedAt  json.RawMessage `json:"started_at,omitempty"`
		EndedAt    json.RawMessage `json:"ended_at,omitempty"`
	}
	layerIn struct {
		ID          jsonID          `json:"id"`
		Name        string          `json:"name"`
		Traffic     *float64        `json:"traffic_allocation,omitempty"`
		Allocations json.RawMessage `json:"allocations,omitempty"`
	}
	allocationIn struct {
		ExperimentID jsonID  `json:"experiment_id"`
		Traffic      float64 `json:"traffic"`
	}
	settingsIn struct {
		ConfidenceThreshold *float64 `json:"confidence_threshold"`
	}
	resultsIn struct {
		Metrics []metricIn `json:"metrics"`
	}
	metricIn struct {
		ID         jsonID        `json:"id"`
		Key        string        `json:"key"`
		Name       string        `json:"name"`
		Baseline   string        `json:"baseline"`
		Variations []variationIn `json:"variations"`
	}
	variationIn struct {
		Variation   jsonID `json:"variation_id"`
		Key         string `json:"key"`
		Visitors    int64  `json:"visitors"`
		Conversions int64  `json:"conversions"`
	}
)

// What the page says (the ResultsPage schema of the OpenAPI document).
type (
	page struct {
		Experiment   experimentOut `json:"experiment"`
		Layer        *layerOut     `json:"layer"`
		Significance significance  `json:"significance"`
		Metrics      []metricOut   `json:"metrics"`
		Partial      bool          `json:"partial"`
		Missing      []Missing     `json:"missing"`
	}
	experimentOut struct {
		ID         string          `json:"id"`
		ProjectID  string          `json:"project_id"`
		LayerID    string          `json:"layer_id"`
		Name       string          `json:"name"`
		Status     string          `json:"status"`
		Variations json.RawMessage `json:"variations,omitempty"`
		StartedAt  json.RawMessage `json:"started_at,omitempty"`
		EndedAt    json.RawMessage `json:"ended_at,omitempty"`
	}
	layerOut struct {
		ID                   string          `json:"id"`
		Name                 string          `json:"name,omitempty"`
		Traffic              *float64        `json:"traffic_allocation,omitempty"`
		ExperimentAllocation *float64        `json:"experiment_allocation"`
		Allocations          json.RawMessage `json:"allocations,omitempty"`
	}
	significance struct {
		ConfidenceThreshold float64 `json:"confidence_threshold"`
		Source              string  `json:"source"`
	}
	metricOut struct {
		ID         string         `json:"id"`
		Key        string         `json:"key,omitempty"`
		Name       string         `json:"name,omitempty"`
		Baseline   string         `json:"baseline,omitempty"`
		Variations []variationOut `json:"variations"`
	}
	variationOut struct {
		Variation   string   `json:"variation"`
		Visitors    int64    `json:"visitors"`
		Conversions int64    `json:"conversions"`
		Rate        float64  `json:"rate"`
		Lift        *float64 `json:"lift"`
		CI          *ci      `json:"ci"`
		Significant bool     `json:"significant"`
	}
	ci struct {
		Low   float64 `json:"low"`
		High  float64 `json:"high"`
		Level float64 `json:"level"`
	}
)

// ResultsPage appends the results page to dst. A required part that is
// missing or not valid JSON is a *PartError; an optional one that is not
// valid JSON is added to the page's missing list.
func ResultsPage(dst []byte, in *Input) ([]byte, error) {
	var exp experimentIn
	if err := decode(in.Experiment, &exp); err != nil {
		return dst, &PartError{Part: "experiment", Err: err}
	}
	var res resultsIn
	if err := decode(in.Results, &res); err != nil {
		return dst, &PartError{Part: "results", Err: err}
	}
	p := page{
		Experiment: experimentOut{
			ID:         string(exp.ID),
			ProjectID:  string(exp.ProjectID),
			LayerID:    string(exp.LayerID),
			Name:       exp.Name,
			Status:     exp.Status,
			Variations: exp.Variations,
			StartedAt:  exp.StartedAt,
			EndedAt:    exp.EndedAt,
		},
		Significance: significance{ConfidenceThreshold: DefaultConfidenceThreshold, Source: "default"},
		Missing:      in.Missing,
	}
	if in.Layer != nil {
		var l layerIn
		if err := decode(in.Layer, &l); err != nil {
			p.Missing = append(p.Missing, Missing{Call: "layer", Detail: "malformed body: " + err.Error()})
		} else {
			p.Layer = &layerOut{ID: string(l.ID), Name: l.Name, Traffic: l.Traffic, Allocations: l.Allocations,
				ExperimentAllocation: share(l.Allocations, string(exp.ID))}
		}
	}
	if in.Settings != nil {
		var st settingsIn
		err := decode(in.Settings, &st)
		switch {
		case err != nil:
			p.Missing = append(p.Missing, Missing{Call: "settings", Detail: "malformed body: " + err.Error()})
		case st.ConfidenceThreshold == nil || *st.ConfidenceThreshold <= 0 || *st.ConfidenceThreshold >= 1:
			p.Missing = append(p.Missing, Missing{Call: "settings", Detail: "no confidence_threshold in (0, 1)"})
		default:
			p.Significance = significance{ConfidenceThreshold: *st.ConfidenceThreshold, Source: "project"}
		}
	}
	z := zScore(p.Significance.ConfidenceThreshold)
	p.Metrics = make([]metricOut, len(res.Metrics))
	for i := range res.Metrics {
		p.Metrics[i] = metric(&res.Metrics[i], z, p.Significance.ConfidenceThreshold)
	}
	if p.Missing == nil {
		p.Missing = []Missing{}
	}
	p.Partial = len(p.Missing) > 0
	return p.appendJSON(dst), nil
}

// share finds the experiment's share of its layer's traffic in the
// layer's allocations; nil if it has none.
func share(allocations json.RawMessage, experimentID string) *float64 {
	if len(allocations) == 0 {
		return nil
	}
	var all []allocationIn
	if json.Unmarshal(allocations, &all) != nil {
		return nil
	}
	for _, a := range all {
		if string(a.ExperimentID) == experimentID {
			t := a.Traffic
			return &t
		}
	}
	return nil
}

func decode(body []byte, v any) error {
	if body == nil {
		return fmt.Errorf("no body")
	}
	return json.Unmarshal(body, v)
}

// metric compares every variation of a metric with the baseline (the one
// named, else the first): the lift of the conversion rate and its
// confidence interval at the threshold, by the normal approximation of the
// difference of two proportions.
func metric(m *metricIn, z, level float64) metricOut {
	out := metricOut{ID: string(m.ID), Key: m.Key, Name: m.Name, Variations: make([]variationOut, len(m.Variations))}
	base := 0
	for i, v := range m.Variations {
		if m.Baseline != "" && (v.name() == m.Baseline) {
			base = i
		}
	}
	if len(m.Variations) > 0 {
		out.Baseline = m.Variations[base].name()
	}
	var rb, nb float64
	if len(m.Variations) > 0 {
		b := m.Variations[base]
		rb, nb = rate(b.Conversions, b.Visitors), float64(b.Visitors)
	}
	for i, v := range m.Variations {
		r := rate(v.Conversions, v.Visitors)
		o := variationOut{Variation: v.name(), Visitors: v.Visitors, Conversions: v.Conversions, Rate: round(r)}
		if i != base && rb > 0 && v.Visitors > 0 && nb > 0 {
			n := float64(v.Visitors)
			lift := (r - rb) / rb
			se := math.Sqrt(r*(1-r)/n + rb*(1-rb)/nb)
			low, high := (r-rb-z*se)/rb, (r-rb+z*se)/rb
			lift, low, high = round(lift), round(low), round(high)
			o.Lift = &lift
			o.CI = &ci{Low: low, High: high, Level: level}
			o.Significant = low > 0 || high < 0
		}
		out.Variations[i] = o
	}
	return out
}

func (v *variationIn) name() string {
	if v.Key != "" {
		return v.Key
	}
	return string(v.Variation)
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

// jsonID is an id sent as a JSON string or number, kept as its text.
type jsonID string

// UnmarshalJSON accepts "42" and 42.
func (id *jsonID) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && simple(b[1:len(b)-1]) {
		*id = jsonID(b[1 : len(b)-1])
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = jsonID(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return fmt.Errorf("id %s: not a string or number", b)
	}
	*id = jsonID(b)
	return nil
}

// appendJSON encodes the page by hand: the shape is fixed, and reflection
// would cost more than the rest of the composition. Raw parts were
// validated when their body was decoded and are copied as they are.
func (p *page) appendJSON(b []byte) []byte {
	e := &p.Experiment
	b = append(b, `{"experiment":{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"project_id":`...)
	b = appendString(b, e.ProjectID)
	b = append(b, `,"layer_id":`...)
	b = appendString(b, e.LayerID)
	b = append(b, `,"name":`...)
	b = appendString(b, e.Name)
	b = append(b, `,"status":`...)
	b = appendString(b, e.Status)
	b = appendRaw(b, `,"variations":`, e.Variations)
	b = appendRaw(b, `,"started_at":`, e.StartedAt)
	b = appendRaw(b, `,"ended_at":`, e.EndedAt)
	b = append(b, `},"layer":`...)
	if l := p.Layer; l == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"id":`...)
		b = appendString(b, l.ID)
		if l.Name != "" {
			b = append(b, `,"name":`...)
			b = appendString(b, l.Name)
		}
		if l.Traffic != nil {
			b = append(b, `,"traffic_allocation":`...)
			b = appendFloat(b, *l.Traffic)
		}
		b = append(b, `,"experiment_allocation":`...)
		if l.ExperimentAllocation != nil {
			b = appendFloat(b, *l.ExperimentAllocation)
		} else {
			b = append(b, "null"...)
		}
		b = appendRaw(b, `,"allocations":`, l.Allocations)
		b = append(b, '}')
	}
	b = append(b, `,"significance":{"confidence_threshold":`...)
	b = appendFloat(b, p.Significance.ConfidenceThreshold)
	b = append(b, `,"source":`...)
	b = appendString(b, p.Significance.Source)
	b = append(b, `},"metrics":[`...)
	for i := range p.Metrics {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.Metrics[i].appendJSON(b)
	}
	b = append(b, `],"partial":`...)
	b = strconv.AppendBool(b, p.Partial)
	b = append(b, `,"missing":[`...)
	for i, m := range p.Missing {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"call":`...)
		b = appendString(b, m.Call)
		if m.Status != 0 {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(m.Status), 10)
		}
		b = append(b, `,"detail":`...)
		b = appendString(b, m.Detail)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (m *metricOut) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	if m.Key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, m.Key)
	}
	if m.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, m.Name)
	}
	if m.Baseline != "" {
		b = append(b, `,"baseline":`...)
		b = appendString(b, m.Baseline)
	}
	b = append(b, `,"variations":[`...)
	for i := range m.Variations {
		v := &m.Variations[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"variation":`...)
		b = appendString(b, v.Variation)
		b = append(b, `,"visitors":`...)
		b = strconv.AppendInt(b, v.Visitors, 10)
		b = append(b, `,"conversions":`...)
		b = strconv.AppendInt(b, v.Conversions, 10)
		b = append(b, `,"rate":`...)
		b = appendFloat(b, v.Rate)
		b = append(b, `,"lift":`...)
		if v.Lift != nil {
			b = appendFloat(b, *v.Lift)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"ci":`...)
		if v.CI != nil {
			b = append(b, `{"low":`...)
			b = appendFloat(b, v.CI.Low)
			b = append(b, `,"high":`...)
			b = appendFloat(b, v.CI.High)
			b = append(b, `,"level":`...)
			b = appendFloat(b, v.CI.Level)
			b = append(b, '}')
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"significant":`...)
		b = strconv.AppendBool(b, v.Significant)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendRaw appends key and raw JSON if there is any; a JSON null is kept.
func appendRaw(b []byte, key string, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return b
	}
	b = append(b, key...)
	return append(b, raw...)
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
func appendString(b []byte, s string) []byte {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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

// simple reports whether a JSON string's content needs no unescaping.
func simple(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return true
}
