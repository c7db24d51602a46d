package mock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

// start runs a cluster for one test and closes it afterwards.
func start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// noLatency is a cluster whose services answer at once.
func noLatency(t testing.TB) *Cluster {
	return start(t, Options{NoLatency: true, Seed: 1})
}

var client = &http.Client{Timeout: 10 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, method, url, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func url(c *Cluster, service, path string) string { return "http://" + c.Addr(service) + path }

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return m
}

func TestRoutesAgreeWithModel(t *testing.T) {
	paths := []string{"/experiments", "/experiments/1", "/experiments/x", "/experiments/1/x", "/experiments/", "/layers/1", "/layers", "/layers/1/2",
		"/projects/1", "/projects/1/settings", "/projects/1/other", "/projects/", "/results/5", "/results", "/results/5/", "/", "/other"}
	for _, service := range model.Services {
		routes := model.ServiceRoutes(service)
		for _, method := range []string{"GET", "POST", "DELETE"} {
			for _, p := range paths {
				m := routeOf(service, []byte(method), []byte(p))
				want, ok := model.MatchRoute(service, method, p)
				got := ""
				if m.route != noRoute {
					got = routes[m.route]
				}
				if got != want || (m.route != noRoute) != ok {
					t.Errorf("%s %s %s: server routes to %q, model.MatchRoute says %q", service, method, p, got, want)
				}
			}
		}
	}
}

func TestServesConsistentData(t *testing.T) {
	c := noLatency(t)
	r := do(t, "GET", url(c, "experiments", "/experiments/42"), "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /experiments/42: %d %s", r.status, r.header.Get("Content-Type"))
	}
	e := decodeJSON(t, r.body)
	if e["id"] != "42" || e["project_id"] != "3" {
		t.Fatalf("experiment 42: id %v project %v", e["id"], e["project_id"])
	}
	layer := e["layer_id"].(string)
	if l := decodeJSON(t, do(t, "GET", url(c, "layers", "/layers/"+layer), "").body); l["project_id"] != "3" {
		t.Errorf("layer %s of experiment 42 belongs to project %v", layer, l["project_id"])
	}
	if p := decodeJSON(t, do(t, "GET", url(c, "projects", "/projects/3"), "").body); p["id"] != "3" {
		t.Errorf("project 3: %v", p)
	}
	s := decodeJSON(t, do(t, "GET", url(c, "projects", "/projects/3/settings"), "").body)
	if th, ok := s["confidence_threshold"].(float64); !ok || th <= 0 || th >= 1 || s["timezone"] == "" {
		t.Errorf("settings: %v", s)
	}
	res := do(t, "GET", url(c, "results", "/results/42"), "")
	if res.status != 200 || len(res.body) < 1024 || len(res.body) > 4096 {
		t.Errorf("results: %d, %d bytes", res.status, len(res.body))
	}
	if m := decodeJSON(t, res.body); m["experiment_id"] != "42" {
		t.Errorf("results of 42 name %v", m["experiment_id"])
	}
	// The same seed serves the same bytes; another seed other bytes.
	c2 := start(t, Options{NoLatency: true, Seed: 1})
	c3 := start(t, Options{NoLatency: true, Seed: 2})
	if !bytes.Equal(do(t, "GET", url(c2, "results", "/results/42"), "").body, res.body) {
		t.Error("same seed, different results")
	}
	if bytes.Equal(do(t, "GET", url(c3, "results", "/results/42"), "").body, res.body) {
		t.Error("different seeds, same results")
	}
}

func TestNotFoundAndWrongMethod(t *testing.T) {
	c := start(t, Options{NoLatency: true, Projects: 2, ExperimentsPerProject: 5})
	tests := []struct {
		service, method, path string
		status                int
	}{
		// Each row proves one request that gets a JSON error, not data.
		{"experiments", "GET", "/experiments/11", 404},                   // beyond 2 x 5
		{"experiments", "GET", "/experiments/0", 404},                    // ids start at 1
		{"experiments", "GET", "/experiments/abc", 404},                  // non-numeric
		{"experiments", "GET", "/experiments/-1", 404},                   // signed
		{"experiments", "GET", "/experiments/007", 404},                  // not canonical
		{"experiments", "GET", "/experiments/1.5", 404},                  // not an integer
		{"experiments", "GET", "/experiments/99999999999999999999", 404}, // overflows
		{"layers", "GET", "/layers/9", 404},
		{"projects", "GET", "/projects/3", 404},
		{"projects", "GET", "/projects/x/settings", 404},
		{"results", "GET", "/results/11", 404},
		{"results", "GET", "/experiments/1", 404}, // another service's route
		{"layers", "GET", "/nothing", 404},
		{"experiments", "DELETE", "/experiments/1", 405},
		{"experiments", "PUT", "/experiments", 405},
		{"results", "POST", "/results/1", 405},
	}
	for _, tt := range tests {
		r := do(t, tt.method, url(c, tt.service, tt.path), "")
		if r.status != tt.status {
			t.Errorf("%s %s on %s: %d, want %d", tt.method, tt.path, tt.service, r.status, tt.status)
			continue
		}
		m := decodeJSON(t, r.body)
		if m["error"] == "" || m["code"] == nil {
			t.Errorf("%s %s: error body %s", tt.method, tt.path, r.body)
		}
		if tt.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
		}
	}
	if st := c.Stats("experiments"); st.Errors.NotFound != 7 || st.Unrouted != 2 {
		t.Errorf("experiments stats: not_found %d unrouted %d", st.Errors.NotFound, st.Unrouted)
	}
}

func TestListExperiments(t *testing.T) {
	c := noLatency(t)
	type page struct {
		Items      []map[string]any `json:"items"`
		Page       int              `json:"page"`
		PerPage    int              `json:"per_page"`
		Total      int              `json:"total"`
		TotalPages int              `json:"total_pages"`
	}
	get := func(q string) (int, page) {
		r := do(t, "GET", url(c, "experiments", "/experiments"+q), "")
		var p page
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("list %s: %v: %s", q, err, r.body)
			}
		}
		return r.status, p
	}
	status, p := get("?project_id=3&per_page=8&page=2")
	if status != 200 || p.Total != 20 || p.Page != 2 || p.PerPage != 8 || p.TotalPages != 3 || len(p.Items) != 8 || p.Items[0]["id"] != "49" {
		t.Errorf("page 2 of project 3: %d %+v", status, p)
	}
	if _, p := get("?project_id=3&per_page=8&page=3"); len(p.Items) != 4 {
		t.Errorf("last page has %d items, want 4", len(p.Items))
	}
	if _, p := get("?project_id=3&page=9"); len(p.Items) != 0 || p.Total != 20 {
		t.Errorf("page beyond the end: %+v", p)
	}
	if _, p := get(""); p.Total != 1000 || len(p.Items) != 25 {
		t.Errorf("all experiments: total %d, %d items", p.Total, len(p.Items))
	}
	for _, q := range []string{"?project_id=x", "?project_id=1&page=0", "?per_page=101", "?per_page=abc"} {
		if status, _ := get(q); status != 400 {
			t.Errorf("list%s: %d, want 400", q, status)
		}
	}
	if status, _ := get("?project_id=51"); status != 404 {
		t.Errorf("unknown project: %d, want 404", status)
	}
}

func TestCreateExperiment(t *testing.T) {
	c := noLatency(t)
	r := do(t, "POST", url(c, "experiments", "/experiments"), `{"project_id":"3","name":"Bigger button","layer_id":"10",
		"variations":[{"key":"control","weight":0.4},{"key":"big","name":"Big","weight":0.6}]}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	e := decodeJSON(t, r.body)
	if e["id"] != "1001" || r.header.Get("Location") != "/experiments/1001" || e["layer_id"] != "10" || e["status"] != "draft" {
		t.Errorf("created %v at %s", e, r.header.Get("Location"))
	}
	if got := do(t, "GET", url(c, "experiments", "/experiments/1001"), ""); got.status != 200 || !bytes.Equal(got.body, r.body) {
		t.Errorf("GET the created experiment: %d %s", got.status, got.body)
	}
	// Numeric ids are accepted too, and the new one joins its project's list.
	if r := do(t, "POST", url(c, "experiments", "/experiments"), `{"project_id":3,"name":"Second"}`); r.status != 201 {
		t.Fatalf("create with a numeric id: %d %s", r.status, r.body)
	}
	list := decodeJSON(t, do(t, "GET", url(c, "experiments", "/experiments?project_id=3&page=2&per_page=20"), "").body)
	if list["total"] != 22.0 || len(list["items"].([]any)) != 2 {
		t.Errorf("list after create: total %v, %d items", list["total"], len(list["items"].([]any)))
	}
	tests := []struct {
		name, body, field string
		status            int
	}{
		// Each row proves one invalid body, its status (400: not the
		// shape the API takes; 422: a business rule) and the field named.
		{"not JSON", `{"project_id":`, "", 400},
		{"not an object", `[1]`, "", 400},
		{"unknown field", `{"project_id":"3","name":"x","owner":"me"}`, "", 400},
		{"no project", `{"name":"x"}`, "project_id", 400},
		{"bad project id", `{"project_id":"03","name":"x"}`, "project_id", 400},
		{"unknown project", `{"project_id":"51","name":"x"}`, "project_id", 422},
		{"no name", `{"project_id":"3"}`, "name", 400},
		{"empty name", `{"project_id":"3","name":""}`, "name", 400},
		{"long name", `{"project_id":"3","name":"` + strings.Repeat("n", 201) + `"}`, "name", 400},
		{"bad layer id", `{"project_id":"3","name":"x","layer_id":"x1"}`, "layer_id", 400},
		{"layer of another project", `{"project_id":"3","name":"x","layer_id":"1"}`, "layer_id", 422},
		{"unknown layer", `{"project_id":"3","name":"x","layer_id":"999"}`, "layer_id", 422},
		{"bad status", `{"project_id":"3","name":"x","status":"completed"}`, "status", 400},
		{"one variation", `{"project_id":"3","name":"x","variations":[{"key":"a"}]}`, "variations", 400},
		{"no key", `{"project_id":"3","name":"x","variations":[{"key":"a"},{"name":"b"}]}`, "variations[1].key", 400},
		{"weight over 1", `{"project_id":"3","name":"x","variations":[{"key":"a","weight":1.5},{"key":"b"}]}`, "variations[0].weight", 400},
		{"duplicate key", `{"project_id":"3","name":"x","variations":[{"key":"a"},{"key":"a"}]}`, "variations[1].key", 422},
		{"weights not summing to 1", `{"project_id":"3","name":"x","variations":[{"key":"a","weight":0.2},{"key":"b","weight":0.2}]}`, "variations", 422},
		{"some weights", `{"project_id":"3","name":"x","variations":[{"key":"a","weight":1},{"key":"b"}]}`, "variations[1].weight", 422},
		{"trailing data", `{"project_id":"3","name":"x"} {}`, "", 400},
	}
	for _, tt := range tests {
		r := do(t, "POST", url(c, "experiments", "/experiments"), tt.body)
		if r.status != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
			continue
		}
		m := decodeJSON(t, r.body)
		if tt.field != "" && m["field"] != tt.field {
			t.Errorf("%s: body %s, want field %q", tt.name, r.body, tt.field)
		}
		switch tt.status {
		case 400:
			if m["code"] != "invalid_body" {
				t.Errorf("%s: body %s, want code invalid_body", tt.name, r.body)
			}
		case 422:
			// A problem whose invalid_params names the field.
			var first map[string]any
			if params, _ := m["invalid_params"].([]any); len(params) == 1 {
				first, _ = params[0].(map[string]any)
			}
			if r.header.Get("Content-Type") != "application/problem+json" || m["status"] != 422.0 ||
				first["name"] != tt.field || first["reason"] == "" {
				t.Errorf("%s: %s %s, want a problem naming %q", tt.name, r.header.Get("Content-Type"), r.body, tt.field)
			}
		}
	}
	if n := c.Stats("experiments").Routes[model.RouteCreateExperiment].Errors.BadRequest; n != int64(len(tests)) {
		t.Errorf("bad_request = %d, want %d", n, len(tests))
	}
}

func TestAdminAPI(t *testing.T) {
	c := noLatency(t)
	base := url(c, "results", "/_admin/")
	r := do(t, "GET", base+"config", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"kind":"none"`) {
		t.Fatalf("GET config: %d %s", r.status, r.body)
	}
	put := `{"latency":"fixed:7ms","faults":{"error":0.25},"max_in_flight":4,"queue_limit":2,"routes":{"get_results":{"latency":{"kind":"uniform","min":"1ms","max":"2ms"}}}}`
	if r := do(t, "PUT", base+"config", put); r.status != 200 {
		t.Fatalf("PUT config: %d %s", r.status, r.body)
	}
	got := c.Config("results")
	if got.MaxInFlight != 4 || got.RouteLatency("results", model.RouteGetResults).Kind != model.KindUniform || got.Faults.Error != 0.25 {
		t.Errorf("config after PUT: %+v", got)
	}
	before := do(t, "GET", base+"config", "").body
	invalid := []struct {
		body, field string
	}{
		// Each row proves one rejected PUT and the field its 400 names.
		{`{"latency":{"kind":"lognormal","p50":"20ms","p99":"10ms"}}`, "latency.p99"},
		{`{"routes":{"get_layer":{}}}`, "routes.get_layer"},
		{`{"faults":{"hang":1.5}}`, "faults.hang"},
		{`{"max_in_flight":-1}`, "max_in_flight"},
		{`{"latncy":"none"}`, "latncy"},
		{`{"latency":"fixed:soon"}`, "latency"},
		{`not json`, ""},
	}
	for _, tt := range invalid {
		r := do(t, "PUT", base+"config", tt.body)
		m := decodeJSON(t, r.body)
		if r.status != 400 || m["code"] != "invalid_config" || (tt.field != "" && m["field"] != tt.field) || !strings.Contains(m["error"].(string), tt.field) {
			t.Errorf("PUT %s: %d %s, want 400 naming %q", tt.body, r.status, r.body, tt.field)
		}
	}
	if after := do(t, "GET", base+"config", "").body; !bytes.Equal(before, after) {
		t.Errorf("an invalid PUT changed the config:\n%s\n%s", before, after)
	}
	// Stats count requests per route and errors by kind; reset zeroes them.
	c.SetConfig("results", model.Service{Latency: &model.Latency{Kind: model.KindNone}, Faults: &model.Faults{Error: 1}})
	for range 3 {
		do(t, "GET", url(c, "results", "/results/1"), "")
	}
	var st Stats
	if err := json.Unmarshal(do(t, "GET", base+"stats", "").body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Service != "results" || st.Requests != 3 || st.Served != 3 || st.Errors.Error != 3 || st.Routes[model.RouteGetResults].Requests != 3 {
		t.Errorf("stats: %+v", st)
	}
	if r := do(t, "POST", base+"reset", ""); r.status != 204 {
		t.Errorf("reset: %d", r.status)
	}
	if st := c.Stats("results"); st.Requests != 0 || st.Errors.Error != 0 {
		t.Errorf("stats after reset: %+v", st)
	}
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "health", 200}, {"GET", "nothing", 404}, {"DELETE", "config", 405}, {"GET", "reset", 405}, {"POST", "stats", 405}} {
		if r := do(t, tt.method, base+tt.path, ""); r.status != tt.status {
			t.Errorf("%s /_admin/%s: %d, want %d", tt.method, tt.path, r.status, tt.status)
		}
	}
	// Admin requests are not service requests.
	if st := c.Stats("results"); st.Requests != 0 || st.Unrouted != 0 {
		t.Errorf("admin requests counted: %+v", st)
	}
	if err := c.SetConfig("results", model.Service{MaxInFlight: -2}); err == nil || !strings.Contains(err.Error(), "max_in_flight") {
		t.Errorf("SetConfig of an invalid model: %v", err)
	}
	if err := c.SetConfig("billing", model.Service{}); err == nil {
		t.Error("SetConfig of an unknown service succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{Config: model.Config{"billing": {}}}); err == nil {
		t.Error("unknown service in Config accepted")
	}
	if _, err := Start(Options{Addrs: map[string]string{"billing": "127.0.0.1:0"}}); err == nil {
		t.Error("unknown service in Addrs accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Start(Options{Addrs: map[string]string{"results": ln.Addr().String()}})
	if err == nil || !strings.Contains(err.Error(), "results") {
		t.Errorf("busy port: %v", err)
	}
}

// TestFaults proves each fault kind over a real socket, each with
// probability 1.
func TestFaults(t *testing.T) {
	c := noLatency(t)
	set := func(f model.Faults) {
		t.Helper()
		if err := c.SetConfig("layers", model.Service{Latency: &model.Latency{Kind: model.KindNone}, Faults: &f}); err != nil {
			t.Fatal(err)
		}
	}
	u := url(c, "layers", "/layers/1")

	t.Run("error", func(t *testing.T) {
		set(model.Faults{Error: 1})
		r := do(t, "GET", u, "")
		if r.status != 500 || decodeJSON(t, r.body)["code"] != "internal" {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		set(model.Faults{Malformed: 1})
		r := do(t, "GET", u, "")
		if r.status != 200 || json.Valid(r.body) || len(r.body) == 0 {
			t.Errorf("%d %q", r.status, r.body)
		}
	})
	t.Run("reset", func(t *testing.T) {
		set(model.Faults{Reset: 1})
		resp, err := client.Get(u)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("response read in full, want a cut connection")
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("hang", func(t *testing.T) {
		set(model.Faults{Hang: 1})
		before := c.Stats("layers")
		conn, err := net.Dial("tcp", c.Addr("layers"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /layers/1 HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		n, err := conn.Read(make([]byte, 1))
		var ne net.Error
		if n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read %d bytes, err %v; want a timeout", n, err)
		}
		if st := c.Stats("layers"); st.InFlight != 1 || st.Errors.Hang != before.Errors.Hang+1 {
			t.Errorf("while hanging: in flight %d, hangs %d", st.InFlight, st.Errors.Hang)
		}
		conn.Close() // the client gives up
		waitFor(t, func() bool { return c.Stats("layers").InFlight == 0 }, "the hang to end when the client closes")
		if st := c.Stats("layers"); st.Served != before.Served+1 {
			t.Errorf("served %d, want %d", st.Served, before.Served+1)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		// Probabilities are honoured: a quarter each of error, malformed
		// and no fault, over 400 requests.
		set(model.Faults{Error: 0.25, Malformed: 0.25})
		c.ResetStats()
		for range 400 {
			do(t, "GET", u, "")
		}
		st := c.Stats("layers")
		if st.Errors.Error < 60 || st.Errors.Error > 140 || st.Errors.Malformed < 60 || st.Errors.Malformed > 140 {
			t.Errorf("400 requests gave %d errors and %d malformed, want about 100 each", st.Errors.Error, st.Errors.Malformed)
		}
	})
}

func TestCloseEndsHangsAndWaitsForInFlight(t *testing.T) {
	c, err := Start(Options{NoLatency: true})
	if err != nil {
		t.Fatal(err)
	}
	c.SetConfig("layers", model.Service{Faults: &model.Faults{Hang: 1}})
	c.SetConfig("results", model.Service{Latency: &model.Latency{Kind: model.KindFixed, Value: model.Duration(200 * time.Millisecond)}})
	conn, err := net.Dial("tcp", c.Addr("layers"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /layers/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(url(c, "results", "/results/1"))
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	waitFor(t, func() bool { return c.Stats("layers").InFlight == 1 && c.Stats("results").InFlight == 1 }, "both requests in flight")
	closeWithin(t, c, 10*time.Second)
	if status := <-slow; status != 200 {
		t.Errorf("request in flight during Close got %d, want 200", status)
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("hanging connection still open after Close")
	}
	if c.Stats("layers").InFlight != 0 {
		t.Error("hang still in flight after Close")
	}
}

// closeWithin closes c and fails t if Close errs or has not returned
// within d.
func closeWithin(t testing.TB, c *Cluster, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(d):
		t.Fatal("Close did not return")
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestMaxInFlightQueues(t *testing.T) {
	c := noLatency(t)
	const latency = 40 * time.Millisecond
	c.SetConfig("projects", model.Service{Latency: &model.Latency{Kind: model.KindFixed, Value: model.Duration(latency)}, MaxInFlight: 2})
	var wg sync.WaitGroup
	start := time.Now()
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = do(t, "GET", url(c, "projects", "/projects/1"), "").status
		}()
	}
	waitFor(t, func() bool { return c.Stats("projects").Queued > 0 }, "requests to queue")
	wg.Wait()
	elapsed := time.Since(start)
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: %d", i, s)
		}
	}
	st := c.Stats("projects")
	if st.PeakInFlight != 2 {
		t.Errorf("peak in flight %d, want 2 (the cap)", st.PeakInFlight)
	}
	// 8 requests through 2 workers take 4 rounds of the latency; without
	// the cap they would take one.
	if elapsed < 3*latency {
		t.Errorf("8 requests with 2 workers took %v, want about %v", elapsed, 4*latency)
	}
	if st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("after: queued %d in flight %d", st.Queued, st.InFlight)
	}
}

// TestQueueLimitRejects fills one worker and a queue of two, then sends
// three more requests: each gets 503 at once. Hanging requests hold the
// worker, so no timing decides the outcome.
func TestQueueLimitRejects(t *testing.T) {
	c := noLatency(t)
	c.SetConfig("results", model.Service{Faults: &model.Faults{Hang: 1}, MaxInFlight: 1, QueueLimit: 2})
	var held []net.Conn
	hold := func() {
		conn, err := net.Dial("tcp", c.Addr("results"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		fmt.Fprintf(conn, "GET /results/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	hold()
	waitFor(t, func() bool { return c.Stats("results").InFlight == 1 }, "the first request to hold the worker")
	hold()
	hold()
	waitFor(t, func() bool { return c.Stats("results").Queued == 2 }, "two requests to queue")
	for range 3 {
		r := do(t, "GET", url(c, "results", "/results/1"), "")
		if r.status != 503 || decodeJSON(t, r.body)["code"] != "unavailable" || r.header.Get("Retry-After") == "" {
			t.Errorf("beyond the queue: %d %s", r.status, r.body)
		}
	}
	if st := c.Stats("results"); st.Errors.Rejected != 3 || st.PeakInFlight != 1 || st.Queued != 2 {
		t.Errorf("rejected %d, peak in flight %d, queued %d; want 3, 1, 2", st.Errors.Rejected, st.PeakInFlight, st.Queued)
	}
	// The clients give up: the worker passes down the queue, each queued
	// request hangs in turn until its client leaves, and all is released.
	for _, conn := range held {
		conn.Close()
	}
	waitFor(t, func() bool { st := c.Stats("results"); return st.InFlight == 0 && st.Queued == 0 }, "the worker and the queue to drain")
}

// TestCreateIdempotencyKey: a create with an Idempotency-Key creates one
// experiment per key; a repeat gets the same one, which is how a gateway
// retries safely a create whose answer it lost.
func TestCreateIdempotencyKey(t *testing.T) {
	c := noLatency(t)
	create := func(key string) response {
		t.Helper()
		req, err := http.NewRequest("POST", url(c, "experiments", "/experiments"), strings.NewReader(`{"project_id":"3","name":"Keyed"}`))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			t.Fatalf("create with key %q: %d %s", key, resp.StatusCode, b)
		}
		return response{resp.StatusCode, resp.Header, b}
	}
	first := create("k1")
	again := create("k1")
	if !bytes.Equal(first.body, again.body) || first.header.Get("Location") != again.header.Get("Location") {
		t.Errorf("the same key: %s at %s, then %s at %s", first.body, first.header.Get("Location"), again.body, again.header.Get("Location"))
	}
	if other := create("k2"); bytes.Equal(other.body, first.body) {
		t.Error("another key got the same experiment")
	}
	if none := create(""); bytes.Equal(none.body, first.body) {
		t.Error("a create without a key got the same experiment")
	}
	list := decodeJSON(t, do(t, "GET", url(c, "experiments", "/experiments?project_id=3&page=1&per_page=100"), "").body)
	if list["total"] != 23.0 {
		t.Errorf("project 3 has %v experiments, want 20 generated and 3 created", list["total"])
	}
}
