package compose

import (
	"strings"
	"testing"

	"fanout/gateway/fanout"
)

// resultsPlan compiles a plan of the calls named, each without
// dependencies, in that order; the call named allowing404 allows a 404.
func resultsPlan(t *testing.T, allowing404 string, names ...string) *fanout.Plan {
	t.Helper()
	var calls []fanout.CallSpec
	for _, n := range names {
		calls = append(calls, fanout.CallSpec{Name: n, Backend: "b", Path: "/" + n, Primary: n == PartExperiment, AllowNotFound: n == allowing404})
	}
	p, err := fanout.Compile("page", calls, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBindResultsRefusesPlans(t *testing.T) {
	for _, c := range []struct {
		name   string
		plan   func(*testing.T) *fanout.Plan
		reason string
	}{
		// A part without its call would be composed from nothing.
		{"no settings call", func(t *testing.T) *fanout.Plan {
			return resultsPlan(t, PartResults, PartExperiment, PartLayer, PartResults)
		}, `no call named settings`},
		// Only the results part has a rendering for a 404.
		{"a layer that allows a 404", func(t *testing.T) *fanout.Plan {
			return resultsPlan(t, PartLayer, PartExperiment, PartLayer, PartSettings, PartResults)
		}, `call "layer": the page cannot render its 404`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := BindResults(c.plan(t))
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("BindResults: %v, want an error saying %q", err, c.reason)
			}
		})
	}
}

// The page reads each call's body by the call's name, whatever the order
// of the calls in the plan, and blames a required part on the call that
// fetched it.
func TestResultsFollowsTheCallNames(t *testing.T) {
	// An extra call that the page does not read is ignored.
	plan := resultsPlan(t, PartResults, PartResults, "audit", PartSettings, PartExperiment, PartLayer)
	r, err := BindResults(plan)
	if err != nil {
		t.Fatal(err)
	}
	want := input()
	bodies := map[string][]byte{
		PartExperiment: want.Experiment, PartLayer: want.Layer, PartSettings: want.Settings, PartResults: want.Results,
		"audit": []byte(`not json`),
	}
	var in Input
	for _, c := range plan.Calls() {
		r.Set(&in, c.Index, bodies[c.Spec.Name])
	}
	got, blame, err := r.Compose(nil, &in)
	if err != nil || blame != -1 {
		t.Fatalf("Compose: blame %d, %v", blame, err)
	}
	page, err := ResultsPage(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(page) {
		t.Errorf("page by call names:\n%s\nwant\n%s", got, page)
	}

	in = Input{}
	for _, c := range plan.Calls() {
		body := bodies[c.Spec.Name]
		if c.Spec.Name == PartResults {
			body = []byte(`[]`)
		}
		r.Set(&in, c.Index, body)
	}
	if _, blame, err := r.Compose(nil, &in); err == nil || blame != plan.Index(PartResults) {
		t.Errorf("Compose of a results body that is not an object: blame %d, %v; want call %d", blame, err, plan.Index(PartResults))
	}

	in = Input{}
	for _, c := range plan.Calls() {
		if c.Spec.Name == PartResults {
			r.NotYet(&in, c.Index)
			continue
		}
		r.Set(&in, c.Index, bodies[c.Spec.Name])
	}
	if got, _, err := r.Compose(nil, &in); err != nil || !strings.Contains(string(got), `"results_status":"none_yet"`) {
		t.Errorf("Compose without results yet: %v\n%s", err, got)
	}
}
