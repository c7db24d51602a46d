package dataset

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

func mustNew(t testing.TB, o Options) *Dataset {
	t.Helper()
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeterministic(t *testing.T) {
	a := mustNew(t, Options{Seed: 1})
	b := mustNew(t, Options{Seed: 1})
	c := mustNew(t, Options{Seed: 2})
	same := 0
	for id := uint64(1); id <= 50; id++ {
		ea, _ := a.ExperimentJSON(id)
		eb, _ := b.ExperimentJSON(id)
		ec, _ := c.ExperimentJSON(id)
		if !bytes.Equal(ea, eb) {
			t.Fatalf("experiment %d differs with the same seed", id)
		}
		if bytes.Equal(ea, ec) {
			same++
		}
		ra, _ := a.ResultsJSON(id)
		rb, _ := b.ResultsJSON(id)
		if !bytes.Equal(ra, rb) {
			t.Fatalf("results %d differ with the same seed", id)
		}
	}
	if same > 5 {
		t.Errorf("%d of 50 experiments identical across seeds", same)
	}
	// The cached body is the body generated afresh.
	e, _ := a.Experiment(7)
	want, _ := json.Marshal(e)
	got, _ := a.ExperimentJSON(7)
	if !bytes.Equal(got, want) {
		t.Error("cached body differs from a fresh one")
	}
}

func TestConsistency(t *testing.T) {
	d := mustNew(t, Options{Seed: 9})
	if d.Experiments() != 1000 || d.Projects() != 50 || d.Layers() != 200 {
		t.Fatalf("sizes %d %d %d", d.Experiments(), d.Projects(), d.Layers())
	}
	inLayer := map[string]map[string]bool{}
	for id := uint64(1); id <= d.Layers(); id++ {
		l, ok := d.Layer(id)
		if !ok {
			t.Fatalf("layer %d missing", id)
		}
		inLayer[l.ID] = map[string]bool{}
		sum := 0.0
		for _, a := range l.Allocations {
			inLayer[l.ID][a.ExperimentID] = true
			sum += a.Traffic
		}
		if sum > 1.0001 || sum < 0.999 {
			t.Errorf("layer %d allocations sum to %v", id, sum)
		}
	}
	var minSize, maxSize = 1 << 30, 0
	for id := uint64(1); id <= d.Experiments(); id++ {
		b, ok := d.ExperimentJSON(id)
		if !ok {
			t.Fatalf("experiment %d missing", id)
		}
		var e struct {
			ID, ProjectID, LayerID string
			Variations             []Variation
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		// Field names differ in case; decode the ids explicitly.
		var raw map[string]any
		_ = json.Unmarshal(b, &raw)
		for _, f := range []string{"id", "project_id", "layer_id"} {
			s, ok := raw[f].(string)
			if _, err := strconv.ParseUint(s, 10, 64); !ok || err != nil {
				t.Fatalf("experiment %d: %s = %v, want a string of digits", id, f, raw[f])
			}
		}
		project, _ := strconv.ParseUint(raw["project_id"].(string), 10, 64)
		if project != (id-1)/20+1 {
			t.Fatalf("experiment %d in project %d", id, project)
		}
		if !d.HasProject(project) {
			t.Fatalf("experiment %d: project %d absent", id, project)
		}
		layer := raw["layer_id"].(string)
		if !inLayer[layer][raw["id"].(string)] {
			t.Fatalf("experiment %d not allocated in its layer %s", id, layer)
		}
		l, _ := strconv.ParseUint(layer, 10, 64)
		if lp, _ := d.Layer(l); lp.ProjectID != raw["project_id"] {
			t.Fatalf("experiment %d: layer %s of project %s", id, layer, lp.ProjectID)
		}
		w := 0.0
		for _, v := range e.Variations {
			w += v.Weight
		}
		if len(e.Variations) < 2 || w < 0.999 || w > 1.0001 {
			t.Fatalf("experiment %d: %d variations weighing %v", id, len(e.Variations), w)
		}
		rb, _ := d.ResultsJSON(id)
		minSize, maxSize = min(minSize, len(rb)), max(maxSize, len(rb))
		var res Results
		if err := json.Unmarshal(rb, &res); err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Metrics {
			if len(m.Variations) != len(e.Variations) || m.Baseline != m.Variations[0].Key {
				t.Fatalf("results %d: metric %s has %d variations", id, m.ID, len(m.Variations))
			}
			for _, v := range m.Variations[1:] {
				if res.Visitors > 0 && v.Visitors > 0 && m.Variations[0].Conversions > 0 && (v.Lift == nil || v.ConfidenceInterval == nil || v.ConfidenceInterval.Low > *v.Lift || v.ConfidenceInterval.High < *v.Lift) {
					t.Fatalf("results %d: lift %v outside its interval %+v", id, v.Lift, v.ConfidenceInterval)
				}
			}
		}
	}
	if minSize < 1024 || maxSize > 4096 {
		t.Errorf("results bodies are %d..%d bytes, want within 1..4 KB", minSize, maxSize)
	}
	t.Logf("results bodies: %d..%d bytes", minSize, maxSize)
	for id := uint64(1); id <= d.Projects(); id++ {
		s, _ := d.Settings(id)
		if s.ConfidenceThreshold <= 0 || s.ConfidenceThreshold >= 1 || s.Timezone == "" {
			t.Errorf("settings %d: %+v", id, s)
		}
	}
}

func TestUnknownIDs(t *testing.T) {
	d := mustNew(t, Options{Projects: 2, ExperimentsPerProject: 3})
	for _, f := range []func(uint64) ([]byte, bool){d.ExperimentJSON, d.ResultsJSON, d.LayerJSON, d.ProjectJSON, d.SettingsJSON} {
		if _, ok := f(0); ok {
			t.Error("id 0 exists")
		}
		if _, ok := f(1000); ok {
			t.Error("id 1000 exists")
		}
		if _, ok := f(1); !ok {
			t.Error("id 1 missing")
		}
	}
	if d.Layers() != 6 || d.LayerOf(6) != 6 || d.LayerOf(4) != 4 {
		t.Errorf("layers %d, LayerOf(6) = %d", d.Layers(), d.LayerOf(6))
	}
	if _, err := New(Options{Projects: 100_000, ExperimentsPerProject: 1000}); err == nil {
		t.Error("oversized dataset accepted")
	}
}

func TestParseID(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1", 1, true}, {"42", 42, true}, {"18446744073709551615", 0, false}, {"1234567890123456789", 1234567890123456789, true},
		{"0", 0, false}, {"007", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1a", 0, false}, {"", 0, false}, {"abc", 0, false}, {"1.0", 0, false},
	} {
		got, ok := ParseID([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseID(%q) = %d, %v", tt.in, got, ok)
		}
	}
}

func BenchmarkResultsJSONCached(b *testing.B) {
	d := mustNew(b, Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.ResultsJSON(uint64(i%1000) + 1)
	}
}
