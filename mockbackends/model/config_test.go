package model

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDecodeValid(t *testing.T) {
	ms := func(n int) Duration { return Duration(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name string
		in   string
		want func(t *testing.T, c Config)
	}{
		{
			// The example of the documentation, with every feature at once.
			name: "full example",
			in: `
backends:
  experiments:
    latency: {kind: fixed, value: 20ms}
    faults: {error: 0.0, hang: 0.0, reset: 0.0, malformed: 0.0}
    max_in_flight: 4
    queue_limit: 8
    routes:
      get_experiment:
        latency: {kind: lognormal, p50: 20ms, p99: 200ms, spike: {probability: 0.01, delay: 300ms}}
        faults: {nested: 0.02, nested_size: 1048576, stray: 0.03}
      list_experiments:
        latency: "uniform:min=5ms,max=15ms"
  results:
    latency: normal:mean=40ms,stddev=5ms
    faults: {error: 0.1, malformed: 0.05}
`,
			want: func(t *testing.T, c Config) {
				e := c[ServiceExperiments]
				if e.MaxInFlight != 4 || e.QueueLimit != 8 {
					t.Errorf("capacity = %d/%d", e.MaxInFlight, e.QueueLimit)
				}
				got := c.RouteLatency(ServiceExperiments, RouteGetExperiment)
				if got.Kind != KindLognormal || got.P50 != ms(20) || got.P99 != ms(200) || got.Spike == nil || got.Spike.Probability != 0.01 || got.Spike.Delay != ms(300) {
					t.Errorf("get_experiment latency = %+v", got)
				}
				if got := c.RouteLatency(ServiceExperiments, RouteListExperiments); got.Kind != KindUniform || got.Min != ms(5) || got.Max != ms(15) {
					t.Errorf("list_experiments latency = %+v", got)
				}
				if got := c.RouteLatency(ServiceExperiments, RouteCreateExperiment); got != Fixed(20*time.Millisecond) {
					t.Errorf("create_experiment falls back to the service: %+v", got)
				}
				if got := c.RouteFaults(ServiceResults, RouteGetResults); got.Error != 0.1 || got.Malformed != 0.05 {
					t.Errorf("results faults = %+v", got)
				}
				if got := c.RouteFaults(ServiceExperiments, RouteGetExperiment); got != (Faults{Nested: 0.02, NestedSize: 1 << 20, Stray: 0.03}) || got.NestedBytes() != 1<<20 {
					t.Errorf("get_experiment faults = %+v", got)
				}
				// Absent services behave as the built-in defaults.
				if got := c.RouteLatency(ServiceLayers, RouteGetLayer); got != Fixed(15*time.Millisecond) {
					t.Errorf("layers default = %+v", got)
				}
			},
		},
		{
			// An empty file is an empty config, not an error.
			name: "empty file",
			in:   "",
			want: func(t *testing.T, c Config) {
				if len(c) != 0 {
					t.Errorf("got %v", c)
				}
			},
		},
		{
			// JSON is YAML, so a JSON file decodes too.
			name: "json file",
			in:   `{"backends": {"layers": {"latency": {"kind": "none"}, "max_in_flight": 2}}}`,
			want: func(t *testing.T, c Config) {
				if c.RouteLatency(ServiceLayers, RouteGetLayer).Kind != KindNone || c[ServiceLayers].MaxInFlight != 2 {
					t.Errorf("got %+v", c[ServiceLayers])
				}
			},
		},
		{
			// Nulls mean "not set".
			name: "null fields",
			in:   "backends:\n  projects:\n    latency:\n    faults: null\n",
			want: func(t *testing.T, c Config) {
				if p := c[ServiceProjects]; p.Latency != nil || p.Faults != nil {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			// Spikes in short form inside a mapping, and alone on kind none.
			name: "spike forms",
			in:   "backends:\n  layers:\n    latency: {kind: none, spike: 0.5@1s}\n",
			want: func(t *testing.T, c Config) {
				l := c.RouteLatency(ServiceLayers, RouteGetLayer)
				if l.Spike == nil || l.Spike.Probability != 0.5 || l.Spike.Delay != Duration(time.Second) {
					t.Errorf("got %+v", l)
				}
			},
		},
		{
			// YAML anchors and aliases are resolved.
			name: "aliases",
			in:   "backends:\n  layers:\n    latency: &l {kind: fixed, value: 3ms}\n  projects:\n    latency: *l\n",
			want: func(t *testing.T, c Config) {
				if c.RouteLatency(ServiceProjects, RouteGetProject) != Fixed(3*time.Millisecond) {
					t.Errorf("got %+v", c[ServiceProjects])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(strings.NewReader(tt.in), "test.yaml")
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.want(t, c)
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path string // the field path the error must name
		want string // a part of the reason
		line int    // the line, 0 to skip the check
	}{
		// Each row proves one rejected input and what the error says.
		{"unknown top-level key", "gateway: {}\n", "gateway", "unknown field", 1},
		{"unknown service", "backends:\n  billing: {}\n", "backends.billing", "unknown service", 2},
		{"unknown service field", "backends:\n  layers:\n    latncy: 1ms\n", "backends.layers.latncy", "unknown field", 3},
		{"unknown route", "backends:\n  layers:\n    routes:\n      get_results: {}\n", "backends.layers.routes.get_results", "unknown route", 4},
		{"unknown route field", "backends:\n  layers:\n    routes:\n      get_layer: {delay: 1ms}\n", "backends.layers.routes.get_layer.delay", "unknown field", 4},
		{"unknown latency field", "backends:\n  layers:\n    latency: {kind: fixed, value: 1ms, jitter: 1ms}\n", "backends.layers.latency.jitter", "unknown field", 3},
		{"unknown kind", "backends:\n  layers:\n    latency: {kind: pareto}\n", "backends.layers.latency.kind", "unknown latency kind", 3},
		{"missing kind", "backends:\n  layers:\n    latency: {value: 1ms}\n", "backends.layers.latency.kind", "required", 3},
		{"missing field of kind", "backends:\n  layers:\n    latency: {kind: uniform, min: 1ms}\n", "backends.layers.latency.max", "required", 3},
		{"field of another kind", "backends:\n  layers:\n    latency: {kind: fixed, value: 1ms, p99: 3ms}\n", "backends.layers.latency.p99", "does not apply", 3},
		{"negative duration", "backends:\n  layers:\n    latency: {kind: fixed, value: -1ms}\n", "backends.layers.latency.value", "negative", 3},
		{"duration without unit", "backends:\n  layers:\n    latency: {kind: fixed, value: 20}\n", "backends.layers.latency.value", "want a duration", 3},
		{"p99 below p50", "backends:\n  results:\n    routes:\n      get_results:\n        latency:\n          kind: lognormal\n          p50: 40ms\n          p99: 20ms\n", "backends.results.routes.get_results.latency.p99", "below p50", 8},
		{"zero p50", "backends:\n  results:\n    latency: {kind: lognormal, p50: 0s, p99: 20ms}\n", "backends.results.latency.p50", "greater than 0", 3},
		{"min above max", "backends:\n  layers:\n    latency: uniform:min=5ms,max=1ms\n", "backends.layers.latency", "below min", 3},
		{"bad short form", "backends:\n  layers:\n    latency: fixed:fast\n", "backends.layers.latency", "want a duration", 3},
		{"probability above 1", "backends:\n  layers:\n    faults: {error: 1.5}\n", "backends.layers.faults.error", "outside 0..1", 3},
		{"negative probability", "backends:\n  layers:\n    faults: {hang: -0.1}\n", "backends.layers.faults.hang", "outside 0..1", 3},
		{"probability as string", "backends:\n  layers:\n    faults: {reset: \"0.1\"}\n", "backends.layers.faults.reset", "want a number", 3},
		{"probabilities sum above 1", "backends:\n  layers:\n    faults: {error: 0.6, hang: 0.6}\n", "backends.layers.faults", "sum", 3},
		{"unknown fault", "backends:\n  layers:\n    faults: {timeout: 0.1}\n", "backends.layers.faults.timeout", "unknown field", 3},
		{"nested probability above 1", "backends:\n  layers:\n    faults: {nested: 1.1}\n", "backends.layers.faults.nested", "outside 0..1", 3},
		{"stray and error sum above 1", "backends:\n  layers:\n    faults: {stray: 0.7, error: 0.4}\n", "backends.layers.faults", "sum", 3},
		{"nested body of one byte", "backends:\n  layers:\n    faults: {nested: 1, nested_size: 1}\n", "backends.layers.faults.nested_size", "outside 2..", 3},
		{"nested body over the cap", "backends:\n  layers:\n    faults: {nested: 1, nested_size: 67108865}\n", "backends.layers.faults.nested_size", "outside 2..", 3},
		{"negative nested body", "backends:\n  layers:\n    faults: {nested_size: -4}\n", "backends.layers.faults.nested_size", "at least 0", 3},
		{"nested size as a string", "backends:\n  layers:\n    faults: {nested_size: 4MB}\n", "backends.layers.faults.nested_size", "want an integer", 3},
		{"spike probability", "backends:\n  layers:\n    latency: {kind: none, spike: {probability: 2, delay: 1s}}\n", "backends.layers.latency.spike.probability", "outside 0..1", 3},
		{"spike without delay", "backends:\n  layers:\n    latency: {kind: none, spike: {probability: 0.1}}\n", "backends.layers.latency.spike.delay", "required", 3},
		{"negative max_in_flight", "backends:\n  layers:\n    max_in_flight: -1\n", "backends.layers.max_in_flight", "at least 0", 3},
		{"fractional max_in_flight", "backends:\n  layers:\n    max_in_flight: 1.5\n", "backends.layers.max_in_flight", "want an integer", 3},
		{"queue_limit without cap", "backends:\n  layers:\n    queue_limit: 3\n", "backends.layers.queue_limit", "needs max_in_flight", 3},
		{"duplicate key", "backends:\n  layers: {}\n  layers: {}\n", "backends.layers", "twice", 3},
		{"service not a mapping", "backends:\n  layers: [1, 2]\n", "backends.layers", "want a mapping", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.in), "bad.yaml")
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FieldError", err)
			}
			if fe.File != "bad.yaml" || fe.Path != tt.path || !strings.Contains(fe.Reason, tt.want) {
				t.Errorf("error = %q (path %q); want file bad.yaml, path %q, reason containing %q", err, fe.Path, tt.path, tt.want)
			}
			if tt.line != 0 && fe.Line != tt.line {
				t.Errorf("error %q: line %d, want %d", err, fe.Line, tt.line)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

// TestDecodeReportsEveryError checks that one read of a model file lists
// all its problems, in line order, rather than the first one: a bad service
// does not hide the next, nor a bad field its neighbours, and a bad
// max_in_flight is not echoed by the queue_limit that needs it.
func TestDecodeReportsEveryError(t *testing.T) {
	const in = `backends:
  results:
    latency: {kind: fixed, value: 5}
    faults: {error: 2, hang: 0.1}
  billing: {}
  layers:
    max_in_flight: -1
    queue_limit: 2
    routes:
      get_results: {}
`
	_, err := Decode(strings.NewReader(in), "bad.yaml")
	if err == nil {
		t.Fatal("Decode succeeded, want errors")
	}
	want := strings.Join([]string{
		`bad.yaml:3: backends.results.latency.value: want a duration such as 500ms or 2s, found "5"`,
		`bad.yaml:4: backends.results.faults.error: probability 2 is outside 0..1`,
		`bad.yaml:5: backends.billing: unknown service "billing" (known: ` + strings.Join(Services, ", ") + `)`,
		`bad.yaml:7: backends.layers.max_in_flight: must be at least 0, found -1`,
		`bad.yaml:10: backends.layers.routes.get_results: unknown route "get_results" of service layers (known: ` + strings.Join(ServiceRoutes(ServiceLayers), ", ") + `)`,
	}, "\n")
	if err.Error() != want {
		t.Errorf("problems:\n%v\nwant:\n%s", err, want)
	}
	// A JSON body has no lines: its problems come in the order of its
	// fields, every time.
	_, err = DecodeService([]byte(`{"faults":{"error":2,"hang":"x"},"max_in_flight":1.5}`), ServiceResults)
	const wantJSON = "faults.error: probability 2 is outside 0..1\n" +
		"faults.hang: want a number, found \"x\"\n" +
		"max_in_flight: want an integer, found \"1.5\""
	if err == nil || err.Error() != wantJSON {
		t.Errorf("DecodeService error:\n%v\nwant:\n%s", err, wantJSON)
	}
}

func TestDecodeSyntaxErrorNamesFile(t *testing.T) {
	_, err := Decode(strings.NewReader("backends: [\n"), "broken.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "broken.yaml:1: ") {
		t.Fatalf("err = %v", err)
	}
	_, err = Decode(strings.NewReader("backends: {}\n---\nbackends: {}\n"), "two.yaml")
	if err == nil || !strings.Contains(err.Error(), "more than one") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeTestdataFiles(t *testing.T) {
	for _, tt := range []struct {
		file string
		ok   bool
	}{
		{"testdata/valid.yaml", true},
		{"testdata/invalid-p99.yaml", false},
	} {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(f, tt.file)
		f.Close()
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.file, err, tt.ok)
		}
	}
}

func TestConfigEmbeddedInScenario(t *testing.T) {
	// A bench scenario embeds a Config under "backends" and decodes the file
	// with the strict YAML decoder; the Config keeps its own strictness.
	type scenario struct {
		Name     string `yaml:"name"`
		Backends Config `yaml:"backends"`
	}
	in := "name: t\nbackends:\n  results:\n    latency: lognormal:p50=40ms,p99=400ms\n"
	var s scenario
	dec := yaml.NewDecoder(strings.NewReader(in))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if l := s.Backends.RouteLatency(ServiceResults, RouteGetResults); l.Kind != KindLognormal {
		t.Errorf("got %+v", l)
	}
	bad := "name: t\nbackends:\n  results:\n    latency: {kind: fixed, value: 1ms, p50: 2ms}\n"
	dec = yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	err := dec.Decode(&s)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "backends.results.latency.p50" || fe.Line != 4 {
		t.Errorf("err = %v", err)
	}
}

func TestDecodeService(t *testing.T) {
	tests := []struct {
		name string
		in   string
		path string // "" when valid
	}{
		{"valid", `{"latency":{"kind":"fixed","value":"5ms"},"faults":{"error":0.5},"routes":{"get_results":{"latency":"none"}}}`, ""},
		{"empty object", `{}`, ""},
		{"route of another service", `{"routes":{"get_layer":{}}}`, "routes.get_layer"},
		{"unknown field", `{"latency":{"kind":"fixed","value":"5ms"},"colour":1}`, "colour"},
		{"p99 below p50", `{"latency":{"kind":"lognormal","p50":"5ms","p99":"1ms"}}`, "latency.p99"},
		{"bad probability", `{"routes":{"get_results":{"faults":{"hang":7}}}}`, "routes.get_results.faults.hang"},
		{"string count", `{"max_in_flight":"3"}`, "max_in_flight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeService([]byte(tt.in), ServiceResults)
			if tt.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Fatalf("err = %v, want path %q", err, tt.path)
			}
		})
	}
	if _, err := DecodeService([]byte(`{"latency":`), ServiceResults); err == nil || !strings.Contains(err.Error(), "invalid JSON") {
		t.Errorf("truncated JSON: err = %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	c := Default()
	l, _ := ParseLatency("lognormal:p50=40ms,p99=200ms,spike=0.01@300ms")
	if err := c.SetLatency(ServiceResults, RouteGetResults, l); err != nil {
		t.Fatal(err)
	}
	s := c[ServiceResults]
	s.Faults = &Faults{Error: 0.01}
	s.MaxInFlight = 3
	c[ServiceResults] = s
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"p50":"40ms"`) {
		t.Errorf("durations must marshal as strings: %s", b)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	if back.RouteLatency(ServiceResults, RouteGetResults).String() != l.String() || back[ServiceResults].MaxInFlight != 3 {
		t.Errorf("round trip lost data: %s", b)
	}
	y, err := yaml.Marshal(map[string]Config{"backends": c})
	if err != nil {
		t.Fatal(err)
	}
	back2, err := Decode(strings.NewReader(string(y)), "marshalled.yaml")
	if err != nil {
		t.Fatalf("decode own YAML %s: %v", y, err)
	}
	if back2.RouteLatency(ServiceResults, RouteGetResults).String() != l.String() {
		t.Errorf("YAML round trip lost data:\n%s", y)
	}
}

func TestRouteLatencyAndSetLatency(t *testing.T) {
	var empty Config
	if got := empty.RouteLatency(ServiceResults, RouteGetResults); got != Fixed(40*time.Millisecond) {
		t.Errorf("nil config must give the built-in default, got %v", got)
	}
	c := Config{}
	if err := c.SetLatency(ServiceProjects, "", None()); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLatency(ServiceProjects, RouteGetSettings, Fixed(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got := c.RouteLatency(ServiceProjects, RouteGetProject); got.Kind != KindNone {
		t.Errorf("service latency: %v", got)
	}
	if got := c.RouteLatency(ServiceProjects, RouteGetSettings); got != Fixed(time.Millisecond) {
		t.Errorf("route latency: %v", got)
	}
	if err := c.SetLatency("billing", "", None()); err == nil {
		t.Error("unknown service accepted")
	}
	if err := c.SetLatency(ServiceProjects, RouteGetLayer, None()); err == nil {
		t.Error("route of another service accepted")
	}
	// Clone is deep: changing the clone leaves the original alone.
	d := c.Clone()
	d[ServiceProjects].Routes[RouteGetSettings] = Route{}
	if c.RouteLatency(ServiceProjects, RouteGetSettings) != Fixed(time.Millisecond) {
		t.Error("Clone shares routes")
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default is invalid: %v", err)
	}
}

func TestFaultsPick(t *testing.T) {
	f := Faults{Error: 0.1, Hang: 0.2, Reset: 0.3, Malformed: 0.1, Nested: 0.1, Stray: 0.1}
	for _, tt := range []struct {
		u    float64
		want string
	}{{0, FaultError}, {0.09, FaultError}, {0.1, FaultHang}, {0.29, FaultHang}, {0.31, FaultReset}, {0.61, FaultMalformed}, {0.69, FaultMalformed},
		{0.71, FaultNested}, {0.79, FaultNested}, {0.81, FaultStray}, {0.89, FaultStray}, {0.91, FaultNone}, {0.99, FaultNone}} {
		if got := f.Pick(tt.u); got != tt.want {
			t.Errorf("Pick(%v) = %q, want %q", tt.u, got, tt.want)
		}
	}
}
