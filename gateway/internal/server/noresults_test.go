package server_test

import (
	"encoding/json"
	"testing"

	"fanout/gateway/internal/backendtest"
	"fanout/mockbackends/mock"
)

// resultsStatus reads what a results page says of its metrics.
func resultsStatus(t *testing.T, body []byte) (status string, metrics int) {
	t.Helper()
	var page struct {
		ResultsStatus string            `json:"results_status"`
		Metrics       []json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return page.ResultsStatus, len(page.Metrics)
}

// TestResultsOfNewExperiment: an experiment created a moment ago has no
// results yet (the results service answers 404): its page is 200 with no
// metrics and results_status none_yet, where it was a 502. A page with
// results says available; an experiment that does not exist stays 404.
func TestResultsOfNewExperiment(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	created := g.send(t, post("/v2/experiments", `{"project_id":"3","name":"Fresh"}`))
	if created.status != 201 {
		t.Fatalf("create: status %d: %s", created.status, created.body)
	}
	uri := created.header.Get("Location") + "/results"
	r := g.get(t, uri)
	if r.status != 200 {
		t.Fatalf("%s: status %d, want 200: %s", uri, r.status, r.body)
	}
	g.validateResponse(t, "GET", uri, r)
	if status, n := resultsStatus(t, r.body); status != "none_yet" || n != 0 {
		t.Errorf("%s: results_status %q with %d metrics, want none_yet and none: %s", uri, status, n, r.body)
	}
	var page struct {
		Experiment struct{ Name string }
		Partial    bool
	}
	if err := json.Unmarshal(r.body, &page); err != nil || page.Experiment.Name != "Fresh" || page.Partial {
		t.Errorf("page of the new experiment: %s", r.body)
	}

	r = g.get(t, "/v2/experiments/42/results")
	if status, n := resultsStatus(t, r.body); r.status != 200 || status != "available" || n == 0 {
		t.Errorf("experiment 42: status %d, results_status %q, %d metrics; want 200, available, some", r.status, status, n)
	}
	checkProblem(t, g.get(t, "/v2/experiments/999999/results"), 404)
}

// TestResultsNotFoundOnly: only the results service's 404 means no results
// yet; its other failures stay a 502 naming the call, and the
// experiment's own 404 stays a 404.
func TestResultsNotFoundOnly(t *testing.T) {
	g, f := withFake(t, gatewayOptions{})
	uri := "/v2/experiments/42/results"
	f.Set("results", backendtest.Behaviour{Status: 404})
	r := g.get(t, uri)
	if status, _ := resultsStatus(t, r.body); r.status != 200 || status != "none_yet" {
		t.Errorf("results 404: status %d, results_status %q: %s", r.status, status, r.body)
	}
	g.validateResponse(t, "GET", uri, r)
	for _, s := range []int{410, 500} {
		f.Set("results", backendtest.Behaviour{Status: s})
		if p := checkProblem(t, g.get(t, uri), 502); p.Call != "results" {
			t.Errorf("results %d: problem names %q", s, p.Call)
		}
	}
	f.Set("results", backendtest.Behaviour{})
	f.Set("experiments", backendtest.Behaviour{Status: 404})
	checkProblem(t, g.get(t, uri), 404)
}
