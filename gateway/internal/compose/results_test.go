package compose

import (
	"encoding/json"
	"strings"
	"testing"

	"fanout/gateway/internal/backendtest"
)

func input() *Input {
	return &Input{
		Experiment: backendtest.Experiment(42),
		Layer:      backendtest.Layer(3),
		Settings:   backendtest.Settings(3),
		Results:    backendtest.Results(42),
	}
}

// page is the results page as a client reads it.
type page struct {
	Experiment struct {
		ID, ProjectID, LayerID, Name string
		Variations                   []map[string]any
	}
	Layer *struct {
		ID                   string
		Traffic              float64  `json:"traffic_allocation"`
		ExperimentAllocation *float64 `json:"experiment_allocation"`
	}
	Significance struct {
		ConfidenceThreshold float64 `json:"confidence_threshold"`
		Source              string
	}
	Metrics []struct {
		ID, Key, Baseline string
		Variations        []struct {
			Variation   string
			Lift        *float64
			CI          *struct{ Low, High, Level float64 }
			Significant bool
		}
	}
	Partial bool
	Missing []Missing
}

func TestResultsPage(t *testing.T) {
	b, err := ResultsPage(nil, input())
	if err != nil {
		t.Fatal(err)
	}
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if p.Experiment.ID != "42" || len(p.Experiment.Variations) != 2 || p.Layer == nil || *p.Layer.ExperimentAllocation != 0.25 || p.Partial || len(p.Missing) != 0 {
		t.Errorf("page: %s", b)
	}
	if p.Significance.ConfidenceThreshold != 0.9 || p.Significance.Source != "project" {
		t.Errorf("significance: %s", b)
	}
	v := p.Metrics[0].Variations[1]
	if v.Variation != "treatment" || !v.Significant || v.CI.Level != 0.9 || *v.Lift != 0.175 {
		t.Errorf("signup treatment: %s", b)
	}
}

func TestResultsPageOptionalParts(t *testing.T) {
	in := input()
	in.Layer = nil
	in.Settings = []byte(`{"confidence_threshold":`)
	in.Missing = []Missing{{Call: "layer", Status: 500, Detail: "answered status 500"}}
	b, err := ResultsPage(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Partial || len(p.Missing) != 2 || p.Layer != nil || p.Significance.Source != "default" || p.Significance.ConfidenceThreshold != 0.95 {
		t.Errorf("page: %s", b)
	}
	if !strings.Contains(string(b), `"layer":null`) {
		t.Errorf("layer not null: %s", b)
	}
}

func TestResultsPageRequiredParts(t *testing.T) {
	for _, part := range []string{"experiment", "results"} {
		in := input()
		switch part {
		case "experiment":
			in.Experiment = []byte(`{"id":`)
		case "results":
			in.Results = nil
		}
		_, err := ResultsPage(nil, in)
		pe, ok := err.(*PartError)
		if !ok || pe.Part != part {
			t.Errorf("%s broken: error %v", part, err)
		}
	}
}

// TestZScore checks the quantiles against the textbook values.
func TestZScore(t *testing.T) {
	for level, z := range map[float64]float64{0.9: 1.6449, 0.95: 1.9600, 0.99: 2.5758} {
		if got := zScore(level); got < z-0.0001 || got > z+0.0001 {
			t.Errorf("zScore(%v) = %v, want %v", level, got, z)
		}
	}
}

func BenchmarkResultsPage(b *testing.B) {
	in := input()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = ResultsPage(buf[:0], in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", `q"uote\\`, "tab\tnl\n\x01", "ünïcødé ✓", "bad \xff utf8", "<&>"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q -> %s: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
	}
}

// TestMissingCarriesNoBackendBytes: an optional body that does not parse is
// listed with its kind, and nothing of the body (nor the parser's trace,
// which quotes it) reaches the page; afterwards in.Missing lists it too.
func TestMissingCarriesNoBackendBytes(t *testing.T) {
	in := input()
	in.Layer = []byte(`{"id": SECRET-10.0.0.7:9102 stack trace`)
	b, err := ResultsPage(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SECRET") || strings.Contains(string(b), "10.0.0.7") {
		t.Errorf("the page carries the backend's bytes: %s", b)
	}
	var p struct {
		Missing []Missing `json:"missing"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Missing) != 1 || p.Missing[0].Call != "layer" || p.Missing[0].Kind != KindMalformed {
		t.Errorf("missing %+v, want the layer, malformed", p.Missing)
	}
	if len(in.Missing) != 1 || in.Missing[0].Call != "layer" {
		t.Errorf("in.Missing %+v, want the layer", in.Missing)
	}
}

// TestResultsPageNoResultsYet: without results yet, the page has the
// experiment, no metrics and results_status none_yet, and does not read
// Results; with results it says available.
func TestResultsPageNoResultsYet(t *testing.T) {
	for _, c := range []struct {
		noneYet bool
		results []byte
		status  string
		metrics int
	}{
		{false, backendtest.Results(42), "available", 2},
		{true, nil, "none_yet", 0},
		// A body is ignored, even one that is not JSON.
		{true, []byte(`{"error":`), "none_yet", 0},
	} {
		in := input()
		in.Results, in.NoResultsYet = c.results, c.noneYet
		b, err := ResultsPage(nil, in)
		if err != nil {
			t.Fatalf("none yet %v: %v", c.noneYet, err)
		}
		var p struct {
			Experiment    struct{ ID string }
			Metrics       []json.RawMessage
			ResultsStatus *string `json:"results_status"`
			Partial       bool
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		if p.Experiment.ID != "42" || p.Metrics == nil || len(p.Metrics) != c.metrics ||
			p.ResultsStatus == nil || *p.ResultsStatus != c.status || p.Partial {
			t.Errorf("none yet %v: %s", c.noneYet, b)
		}
	}
}
