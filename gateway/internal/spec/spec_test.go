package spec

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
)

// document is the gateway's document, which package assembly embeds (and
// which this package's own tests cannot import: assembly imports spec).
func document(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t testing.TB) *Spec {
	t.Helper()
	s, err := Load(document(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadEdited loads the shipped document with its first old replaced by
// new and returns Load's error; an old that is not in the document fails
// the test, which would otherwise prove nothing.
func loadEdited(t testing.TB, old, new string) error {
	t.Helper()
	base := string(document(t))
	doc := strings.Replace(base, old, new, 1)
	if doc == base {
		t.Fatalf("edit %q changed nothing", old)
	}
	_, err := Load([]byte(doc))
	return err
}

func TestLoad(t *testing.T) {
	s := load(t)
	op := s.Operation("getExperimentResults")
	if op == nil || op.Fanout == nil || op.Fanout.Primary != "experiment" || len(op.Fanout.Calls) != 4 {
		t.Fatalf("getExperimentResults: %+v", op)
	}
	if !op.Fanout.Calls[1].Optional || op.Fanout.Calls[1].Path != "/layers/{experiment.layer_id}" {
		t.Errorf("layer call: %+v", op.Fanout.Calls[1])
	}
	if !op.Fanout.Calls[3].AllowNotFound || op.Fanout.Calls[0].AllowNotFound {
		t.Errorf("only the results call allows a 404: %+v", op.Fanout.Calls)
	}
	list := s.Operation("listExperiments")
	if list.Defaults["per_page"] != "25" || list.Defaults["page"] != "1" {
		t.Errorf("defaults: %v", list.Defaults)
	}
	if len(s.JSON()) == 0 || !strings.HasPrefix(string(s.YAML()), "openapi: 3.0") {
		t.Error("the document is not served as loaded")
	}
}

func TestFanoutErrors(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		{"primary: experiment\n", "primary: nothing\n", `primary "nothing" is not a call`},
		{"            optional: true\n", "            optional: true\n            hedge: 10ms\n", "hedge"},
		{"            timeout: 1s\n", "            timeout: fast\n", `timeout "fast"`},
		// The primary's 404 is the request's 404.
		{"            path: /experiments/{experiment_id}\n", "            path: /experiments/{experiment_id}\n            allow_not_found: true\n", "cannot allow_not_found"},
		{"primary: project\n        calls:\n", "primary: project\n        calls: []\n        x:\n", "getProject"},
		// A POST may create twice if retried: start-up refuses it, naming
		// the operation and the call.
		{"            method: POST\n", "            method: POST\n            retry: true\n", `createExperiment: x-fanout: calls[0] "create": retry: only a GET call`},
		{"            optional: true\n", "            optional: true\n            retry: yes\n", "retry"},
		// An unknown key names the operation and the call it is in.
		{"            retry: true\n", "            retry: true\n            retries: 3\n", `getExperimentResults: x-fanout: calls[3] "results": json: unknown field "retries"`},
	} {
		if err := loadEdited(t, c.old, c.new); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("edit %q: error %v, want %q", c.new, err, c.want)
		}
	}
}

// TestRetryDeclared: `retry: true` on a GET call reaches the call's spec:
// the shipped document declares it on the results call only.
func TestRetryDeclared(t *testing.T) {
	p := load(t).Operation("getExperimentResults").Plan
	for _, c := range p.Calls() {
		if retry, _ := c.Spec.Policies["retry"].(bool); retry != (c.Spec.Name == "results") {
			t.Errorf("call %s: retry %v", c.Spec.Name, retry)
		}
	}
}

func TestValidate(t *testing.T) {
	s := load(t)
	cases := []struct {
		op    string
		in    Input
		names []string // invalid parameters, none if valid
	}{
		{"getExperiment", Input{PathParams: map[string]string{"experiment_id": "42"}}, nil},
		{"getExperiment", Input{PathParams: map[string]string{"experiment_id": "042"}}, []string{"experiment_id"}},
		{"getExperiment", Input{PathParams: map[string]string{"experiment_id": "-1"}}, []string{"experiment_id"}},
		{"listExperiments", Input{Query: url.Values{"project_id": {"3"}}}, nil},
		{"listExperiments", Input{Query: url.Values{"project_id": {"3"}, "per_page": {"0"}, "page": {"1.5"}}}, []string{"page", "per_page"}},
		{"createExperiment", Input{Header: map[string][]string{"Content-Type": {"application/json"}}, Body: []byte(`{"project_id":"3","name":"x"}`)}, nil},
		{"createExperiment", Input{Header: map[string][]string{"Content-Type": {"application/json"}}, Body: []byte(`{"project_id":"3"}`)}, []string{"name"}},
		{"createExperiment", Input{Header: map[string][]string{"Content-Type": {"application/json"}}, Body: []byte(`{"project_id":3,"name":"x"}`)}, []string{"project_id"}},
	}
	for _, c := range cases {
		bad := s.Operation(c.op).Validate(context.Background(), &c.in)
		var got []string
		for _, b := range bad {
			got = append(got, b.Name)
		}
		if strings.Join(got, ",") != strings.Join(c.names, ",") {
			t.Errorf("%s %+v: invalid %v (%+v), want %v", c.op, c.in, got, bad, c.names)
		}
	}
}

// TestPlans: Load compiles the plan of each operation with x-fanout, once,
// for the server and the bench to share; a plan that does not compile (a
// cycle) is a load error naming the operation.
func TestPlans(t *testing.T) {
	s := load(t)
	for _, op := range s.Operations() {
		if (op.Plan != nil) != (op.Fanout != nil) {
			t.Errorf("%s: plan %v, x-fanout %v", op.ID, op.Plan != nil, op.Fanout != nil)
		}
	}
	if p := s.Operation("getExperimentResults").Plan; p == nil || p.Len() != 4 {
		t.Fatalf("getExperimentResults plan: %v", p)
	}
	if err := loadEdited(t, "/projects/{experiment.project_id}/settings", "/projects/{settings.project_id}/settings"); err == nil || !strings.Contains(err.Error(), "compile plan getExperimentResults") {
		t.Errorf("a call that waits for itself: %v", err)
	}
}
