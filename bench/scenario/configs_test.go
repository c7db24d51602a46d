package scenario

import (
	"slices"
	"strings"
	"testing"
)

// TestDecodeConfigs checks that gateway.configs runs each variant once per
// named set of flags, labelled by the config alone for one variant and by
// both for several, and that expectations may name those labels.
func TestDecodeConfigs(t *testing.T) {
	src := `
gateway:
  modes: [concurrent]
  configs:
    hedged: ""
    unhedged: "-hedge-budget 0"
targets: [{path: "/x/{id}", ids: 1-10, distribution: {kind: zipf, s: 1.1}}]
load: {rates: [10], compare_bodies: true}
expect:
  - hedged.p99 <= 0.6 * unhedged.p99
  - unhedged.pages_differing == 0
  - hedged.calls_per_request_results <= 1.05 * unhedged.calls_per_request_results
`
	s, err := Decode(strings.NewReader(src), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v := s.Gateway.Variants()
	if len(v) != 2 || v[0].Label != "hedged" || len(v[0].Args) != 0 || v[1].Label != "unhedged" || !slices.Equal(v[1].Args, []string{"-hedge-budget", "0"}) {
		t.Errorf("variants %+v", v)
	}
	if s.Targets[0].Zipf != 1.1 || !s.Load.CompareBodies {
		t.Errorf("target %+v, load %+v", s.Targets[0], s.Load)
	}
	two, err := Decode(strings.NewReader(strings.Replace(src, "modes: [concurrent]", "modes: [concurrent, staged]", 1)), "c.yaml")
	if err == nil {
		t.Errorf("expectations naming hedged decoded with two modes: %+v", two.Gateway.Variants())
	}
	two, err = Decode(strings.NewReader(strings.Replace(strings.Split(src, "expect:")[0], "modes: [concurrent]", "modes: [concurrent, staged]", 1)), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, v := range two.Gateway.Variants() {
		labels = append(labels, v.Label)
	}
	if want := []string{"concurrent_hedged", "concurrent_unhedged", "staged_hedged", "staged_unhedged"}; !slices.Equal(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
	for _, bad := range []struct{ src, want string }{
		{"gateway: {configs: {hedged: hedge-budget}}\n", "want gateway flags"},
		{"gateway: {configs: {a-b: \"\"}}\n", "a config name is letters"},
		{"gateway: {configs: {}}\n", "gateway.configs: empty"},
		{"load: {rates: [1], compare_bodies: yes}\n", "load.compare_bodies: want true or false"},
	} {
		doc := bad.src + "targets: [{path: /x}]\n"
		if !strings.Contains(bad.src, "load:") {
			doc += "load: {rates: [1]}\n"
		}
		if _, err := Decode(strings.NewReader(doc), "c.yaml"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want %q", bad.src, err, bad.want)
		}
	}
}
