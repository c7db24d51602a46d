package server_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

type exchange struct {
	method, uri, contentType string
	body                     string
}

func get(uri string) exchange { return exchange{method: fasthttp.MethodGet, uri: uri} }

func post(uri, body string) exchange {
	return exchange{method: fasthttp.MethodPost, uri: uri, contentType: "application/json", body: body}
}

func (g *gateway) send(t *testing.T, e exchange) response {
	t.Helper()
	var body []byte
	if e.body != "" {
		body = []byte(e.body)
	}
	return g.do(t, e.method, e.uri, e.contentType, body)
}

// TestContract sends valid and invalid requests for every operation of the
// document: valid ones must succeed with responses that match the document,
// invalid ones must get 400 problem+json naming the parameter.
func TestContract(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	checkContract(t, g)
}

type contractCase struct {
	valid   []exchange
	invalid map[string]exchange // parameter named in invalid_params -> request
}

// checkContract sends every case to g: valid requests must succeed with
// responses that match the document, invalid ones get 400 naming the
// parameter. Every operation of the document must have a case.
func checkContract(t *testing.T, g *gateway) {
	cases := map[string]contractCase{
		"getProject": {
			valid: []exchange{get("/v2/projects/3")},
			invalid: map[string]exchange{
				"project_id": get("/v2/projects/abc"),
			},
		},
		"listExperiments": {
			valid: []exchange{
				get("/v2/experiments?project_id=3"),
				get("/v2/experiments?project_id=3&page=2&per_page=100"),
			},
			invalid: map[string]exchange{
				"project_id": get("/v2/experiments?page=1"),
				"per_page":   get("/v2/experiments?project_id=3&per_page=101"),
				"page":       get("/v2/experiments?project_id=3&page=zero"),
			},
		},
		"createExperiment": {
			valid: []exchange{
				post("/v2/experiments", `{"project_id":"3","name":"New checkout"}`),
				post("/v2/experiments", `{"project_id":"3","name":"Two arms","variations":[{"key":"a","weight":0.5},{"key":"b","weight":0.5}]}`),
			},
			invalid: map[string]exchange{
				"name":               post("/v2/experiments", `{"project_id":"3","name":""}`),
				"project_id":         post("/v2/experiments", `{"project_id":"x3","name":"n"}`),
				"colour":             post("/v2/experiments", `{"project_id":"3","name":"n","colour":"red"}`),
				"variations[1].size": post("/v2/experiments", `{"project_id":"3","name":"n","variations":[{"key":"a"},{"key":"b","size":1}]}`),
			},
		},
		"getExperiment": {
			valid: []exchange{get("/v2/experiments/42")},
			invalid: map[string]exchange{
				"experiment_id": get("/v2/experiments/0"),
			},
		},
		"getExperimentResults": {
			valid: []exchange{get("/v2/experiments/42/results")},
			invalid: map[string]exchange{
				"experiment_id": get("/v2/experiments/99999999999999999999/results"),
			},
		},
	}
	for _, op := range g.spec.Operations() {
		c, ok := cases[op.ID]
		if !ok {
			t.Errorf("operation %s has no contract case", op.ID)
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			for _, e := range c.valid {
				r := g.send(t, e)
				if r.status/100 != 2 {
					t.Errorf("%s %s: status %d, body %s", e.method, e.uri, r.status, r.body)
				}
				g.validateResponse(t, e.method, e.uri, r)
			}
			for param, e := range c.invalid {
				r := g.send(t, e)
				p := checkProblem(t, r, fasthttp.StatusBadRequest)
				g.validateResponse(t, e.method, e.uri, r)
				named := false
				for _, ip := range p.InvalidParams {
					named = named || ip.Name == param
				}
				if !named {
					t.Errorf("%s %s: invalid_params %+v does not name %q", e.method, e.uri, p.InvalidParams, param)
				}
			}
		})
	}
}

// checkProblem asserts a problem+json response with the status and
// returns it.
func checkProblem(t *testing.T, r response, status int) problem.Problem {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	var p problem.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, r.body)
	}
	if p.Status != status || p.Type == "" || p.Title == "" || p.Instance == "" {
		t.Errorf("incomplete problem: %s", r.body)
	}
	return p
}

func TestUnknownPathAndMethod(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	checkProblem(t, g.get(t, "/v3/nothing"), fasthttp.StatusNotFound)
	checkProblem(t, g.get(t, "/v2/experiments/42/"), fasthttp.StatusNotFound)

	r := g.do(t, fasthttp.MethodDelete, "/v2/experiments/42", "", nil)
	checkProblem(t, r, fasthttp.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("Allow %q, want GET, HEAD", allow)
	}
	r = g.do(t, fasthttp.MethodPut, "/v2/experiments", "", nil)
	checkProblem(t, r, fasthttp.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "GET, HEAD, POST" {
		t.Errorf("Allow %q, want GET, HEAD, POST", allow)
	}
}

var timingEntry = regexp.MustCompile(`^[a-z_]+;dur=\d+\.\d\d;start=\d+\.\d\d$`)
var timingTotal = regexp.MustCompile(`^total;dur=\d+\.\d\d$`)

// TestServerTiming checks the header's format: one entry per call of the
// plan, then the total.
func TestServerTiming(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	for uri, calls := range map[string][]string{
		"/v2/experiments/42/results": {"experiment", "layer", "settings", "results"},
		"/v2/experiments/42":         {"experiment"},
	} {
		r := g.get(t, uri)
		entries := strings.Split(r.header.Get("Server-Timing"), ", ")
		if len(entries) != len(calls)+1 {
			t.Fatalf("%s: Server-Timing %q, want %d entries", uri, r.header.Get("Server-Timing"), len(calls)+1)
		}
		seen := map[string]bool{}
		for _, e := range entries[:len(calls)] {
			if !timingEntry.MatchString(e) {
				t.Errorf("%s: entry %q malformed", uri, e)
			}
			seen[strings.SplitN(e, ";", 2)[0]] = true
		}
		for _, c := range calls {
			if !seen[c] {
				t.Errorf("%s: no entry for call %q in %q", uri, c, r.header.Get("Server-Timing"))
			}
		}
		if !timingTotal.MatchString(entries[len(calls)]) {
			t.Errorf("%s: last entry %q is not the total", uri, entries[len(calls)])
		}
	}
}

// TestResultsPage checks what the page says, beyond its schema.
func TestResultsPage(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	r := g.get(t, "/v2/experiments/42/results")
	var page struct {
		Experiment struct {
			ID, ProjectID, LayerID string
		}
		Layer *struct {
			ID      string
			Traffic float64 `json:"traffic_allocation"`
		}
		Significance struct {
			ConfidenceThreshold float64 `json:"confidence_threshold"`
			Source              string
		}
		Metrics []struct {
			ID         string
			Baseline   string
			Variations []struct {
				Variation   string
				Lift        *float64
				CI          *struct{ Low, High, Level float64 }
				Significant bool
			}
		}
		Partial bool
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Experiment.ID != "42" || page.Layer == nil || page.Layer.Traffic != 0.4 || page.Partial {
		t.Errorf("page: %s", r.body)
	}
	if page.Significance.ConfidenceThreshold != 0.9 || page.Significance.Source != "project" {
		t.Errorf("significance: %+v", page.Significance)
	}
	if len(page.Metrics) != 2 {
		t.Fatalf("metrics: %s", r.body)
	}
	// 400/5000 against 470/5000 is significant at 0.9; 100 against 104 is not.
	signup, purchase := page.Metrics[0].Variations, page.Metrics[1].Variations
	if signup[0].Lift != nil || signup[0].CI != nil || signup[0].Significant {
		t.Errorf("baseline compared with itself: %+v", signup[0])
	}
	if !signup[1].Significant || signup[1].CI == nil || signup[1].CI.Level != 0.9 || *signup[1].Lift < 0.17 || *signup[1].Lift > 0.18 {
		t.Errorf("signup treatment: %+v", signup[1])
	}
	if purchase[1].Significant {
		t.Errorf("purchase treatment significant: %+v", purchase[1])
	}
}
