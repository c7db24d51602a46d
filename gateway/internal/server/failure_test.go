package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/spec"

	"github.com/valyala/fasthttp"
)

// TestBackendFailures drives each fault of a backend through the results
// page and a plain proxy, and checks the documented status and that the
// problem names the failing call.
func TestBackendFailures(t *testing.T) {
	cases := []struct {
		name      string
		service   string
		behaviour backendtest.Behaviour
		uri       string
		status    int
		typ       string
		call      string // "" when the response is a partial page
		partial   string // the call listed as missing in a partial page
	}{
		// The primary resource does not exist: the client's 404.
		{"primary 404", "experiments", backendtest.Behaviour{Status: 404}, "/v2/experiments/42/results", 404, problem.TypeNotFound, "experiment", ""},
		{"proxy 404", "experiments", backendtest.Behaviour{Status: 404}, "/v2/experiments/42", 404, problem.TypeNotFound, "experiment", ""},
		// A required call answering 500 is the gateway's 502.
		{"required 500", "results", backendtest.Behaviour{Status: 500}, "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		// Any other status of a required call that is not the primary is
		// the gateway's 502, a 404 too unless the call allows it (the
		// results call does: TestResultsNotFoundOnly).
		{"required 410 not primary", "results", backendtest.Behaviour{Status: 410}, "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		{"primary 500", "experiments", backendtest.Behaviour{Status: 500}, "/v2/experiments/42/results", 502, problem.TypeBadGateway, "experiment", ""},
		// A body that is not JSON is a 502 naming the call.
		{"malformed primary", "experiments", backendtest.Behaviour{Malformed: true}, "/v2/experiments/42/results", 502, problem.TypeBadGateway, "experiment", ""},
		{"malformed results", "results", backendtest.Behaviour{Malformed: true}, "/v2/experiments/42/results", 502, problem.TypeBadGateway, "results", ""},
		{"malformed proxy", "projects", backendtest.Behaviour{Malformed: true}, "/v2/projects/3", 502, problem.TypeBadGateway, "project", ""},
		// A hanging backend times out: 504.
		{"hang required", "results", backendtest.Behaviour{Hang: true}, "/v2/experiments/42/results", 504, problem.TypeGatewayTimeout, "results", ""},
		{"hang primary", "experiments", backendtest.Behaviour{Hang: true}, "/v2/experiments/42/results", 504, problem.TypeGatewayTimeout, "experiment", ""},
		// Optional calls failing leave a partial page.
		{"optional 500", "layers", backendtest.Behaviour{Status: 500}, "/v2/experiments/42/results", 200, "", "", "layer"},
		{"optional hang", "projects", backendtest.Behaviour{Hang: true}, "/v2/experiments/42/results", 200, "", "", "settings"},
		{"optional malformed", "projects", backendtest.Behaviour{Malformed: true}, "/v2/experiments/42/results", 200, "", "", "settings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g, f := withFake(t, gatewayOptions{deadline: 300 * time.Millisecond, timeout: 150 * time.Millisecond})
			f.Set(c.service, c.behaviour)
			r := g.get(t, c.uri)
			g.validateResponse(t, fasthttp.MethodGet, c.uri, r)
			if c.status != 200 {
				p := checkProblem(t, r, c.status)
				if p.Type != c.typ || p.Call != c.call {
					t.Errorf("problem type %q call %q, want %q %q: %s", p.Type, p.Call, c.typ, c.call, r.body)
				}
				return
			}
			var page struct {
				Partial bool
				Missing []struct{ Call string }
			}
			if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
				t.Fatalf("status %d: %v: %s", r.status, err, r.body)
			}
			if !page.Partial || len(page.Missing) != 1 || page.Missing[0].Call != c.partial {
				t.Errorf("want partial page missing %q: %s", c.partial, r.body)
			}
		})
	}
}

// TestBackendDown points a backend at an address nothing listens on.
func TestBackendDown(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	addrs := backendtest.Addrs(addr)
	addrs["results"] = backendtest.ClosedAddr(t)
	g := startGateway(t, gatewayOptions{backends: addrs})

	r := g.get(t, "/v2/experiments/42/results")
	p := checkProblem(t, r, fasthttp.StatusBadGateway)
	if p.Call != "results" {
		t.Errorf("call %q, want results: %s", p.Call, r.body)
	}
	r = g.admin(t, "/readyz")
	p = checkProblem(t, r, fasthttp.StatusServiceUnavailable)
	if len(p.Unreachable) != 1 || p.Unreachable[0] != "results" || !strings.Contains(p.Detail, "results") {
		t.Errorf("readyz: %s", r.body)
	}
	// The backend's name, never its address: that goes to the log.
	host, port, _ := net.SplitHostPort(addrs["results"])
	if bytes.Contains(r.body, []byte(port)) || bytes.Contains(r.body, []byte(host)) {
		t.Errorf("readyz tells the backend's address: %s", r.body)
	}
	if r = g.admin(t, "/healthz"); r.status != fasthttp.StatusOK {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	// The operations endpoints are not on the public port.
	for _, path := range []string{"/readyz", "/healthz", "/metrics", "/debug/pprof/"} {
		checkProblem(t, g.get(t, path), fasthttp.StatusNotFound)
	}
}

// TestStartupErrors: the router is built from the document, so a document
// and the handlers that disagree, or a plan that does not compile, stop the
// gateway at start-up with an error that names the operation.
func TestStartupErrors(t *testing.T) {
	base := string(assembly.Document())
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"operation without handler", func(s string) string {
			return strings.Replace(s, "components:\n", "  /v2/extra:\n    get:\n      operationId: getExtra\n      responses:\n        '200':\n          description: x\ncomponents:\n", 1)
		}, "operations without a handler: getExtra"},
		{"handler without operation", func(s string) string {
			// The path of getProject, up to the next one, goes.
			start, end := strings.Index(s, "  /v2/projects/{project_id}:\n"), strings.Index(s, "  /v2/experiments:\n")
			if start < 0 || end < start {
				return s
			}
			return s[:start] + s[end:]
		}, "handlers without an operation in the document: getProject"},
		{"unknown reference", func(s string) string {
			return strings.Replace(s, "/layers/{experiment.layer_id}", "/layers/{experiment.layer_id}/{nothing}", 1)
		}, "getExperimentResults"},
		{"cycle", func(s string) string {
			return strings.Replace(s, "path: /experiments/{experiment_id}\n            coalesce: true\n          - name: layer", "path: /experiments/{layer.id}\n            coalesce: true\n          - name: layer", 1)
		}, "getExperimentResults"},
		{"hedged and coalesced call", func(s string) string {
			return strings.Replace(s, "hedge: {after: p95, max: 1}\n", "hedge: {after: p95, max: 1}\n            coalesce: true\n", 1)
		}, `call "results": hedge and coalesce`},
		{"unknown backend", func(s string) string {
			return strings.Replace(s, "backend: layers", "backend: nowhere", 1)
		}, `backend "nowhere"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edited := c.edit(base)
			if edited == base {
				t.Fatal("the edit changed nothing")
			}
			err := newServer(t, []byte(edited))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if err := newServer(t, []byte(base)); err != nil {
		t.Fatalf("the document itself: %v", err)
	}
}

func newServer(t *testing.T, doc []byte) error {
	s, err := spec.Load(doc)
	if err != nil {
		return err
	}
	exec, _ := fanout.New(fanout.ModeConcurrent, fanout.Options{})
	clients, err := backend.New(map[string]backend.Backend{
		"experiments": {Addr: "127.0.0.1:1"}, "layers": {Addr: "127.0.0.1:1"},
		"projects": {Addr: "127.0.0.1:1"}, "results": {Addr: "127.0.0.1:1"},
	}, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.New(server.Config{Spec: s, Executor: exec, Backends: clients,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return err
}

// TestMetrics checks the families /metrics exposes after some traffic.
func TestMetrics(t *testing.T) {
	g, f := withFake(t, gatewayOptions{})
	g.get(t, "/v2/experiments/42/results")
	f.Set("results", backendtest.Behaviour{Status: 500})
	g.get(t, "/v2/experiments/42/results")
	g.get(t, "/v2/experiments/abc")
	body := g.admin(t, "/metrics").body
	for _, want := range []string{
		`fanout_request_duration_seconds_bucket{method="GET",route="/v2/experiments/{experiment_id}/results",status="200",le=`,
		`fanout_request_duration_seconds_count{method="GET",route="/v2/experiments/{experiment_id}/results",status="502"} 1`,
		// Once (the first request) or twice: when results fails, the
		// layer call is sent only if the experiment answered first.
		`fanout_backend_call_duration_seconds_count{operation="getExperimentResults",call="layer",backend="layers",outcome="ok"} `,
		`fanout_backend_call_duration_seconds_count{operation="getExperimentResults",call="results",backend="results",outcome="failed"} 1`,
		`fanout_requests_in_flight 0`, // the admin listener's own requests are not counted
		`fanout_backend_calls_in_flight{backend="results"} 0`,
		`fanout_errors_total{kind="bad_gateway"} 1`,
		`fanout_errors_total{kind="invalid_request"} 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestCreate: the created experiment's Location, and a backend's refusal
// passed on with its status (422), naming the call but not quoting the
// backend.
func TestCreate(t *testing.T) {
	g, f := withFake(t, gatewayOptions{})
	body := []byte(`{"project_id":"3","name":"New checkout"}`)
	r := g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", body)
	if r.status != 201 || r.header.Get("Location") != "/v2/experiments/1001" {
		t.Fatalf("status %d, Location %q", r.status, r.header.Get("Location"))
	}
	if !strings.HasPrefix(r.header.Get("Server-Timing"), "create;dur=") {
		t.Errorf("Server-Timing %q", r.header.Get("Server-Timing"))
	}
	f.Set("experiments", backendtest.Behaviour{Status: 422})
	r = g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", body)
	if p := checkProblem(t, r, 422); p.Call != "create" || p.Type != problem.TypeUnprocessable || strings.Contains(p.Detail, "injected") {
		t.Errorf("refused: %s", r.body)
	}
	f.Set("experiments", backendtest.Behaviour{Status: 500})
	r = g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", body)
	checkProblem(t, r, 502)
}
