package server_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/server"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fasthttp"
)

// framingHeaders are the response headers HTTP itself defines for every
// message (its framing, media type and origin); the document describes
// them through the media types and the protocol, not per response.
var framingHeaders = map[string]bool{
	"content-type": true, "content-length": true, "transfer-encoding": true,
	"connection": true, "date": true, "server": true,
}

// checkHeadersDocumented fails t for each header of r, the answer of op
// (method and path template as in the document), that the document does not
// declare on the response it gives for r's status: a client reading the
// document must find every header the gateway sends.
func checkHeadersDocumented(t testing.TB, doc *openapi3.T, what, method, path string, r response) {
	t.Helper()
	op := doc.Paths.Value(path).GetOperation(method)
	if op == nil {
		t.Fatalf("%s: no operation %s %s in the document", what, method, path)
	}
	resp := op.Responses.Status(r.status)
	if resp == nil {
		resp = op.Responses.Default()
	}
	if resp == nil || resp.Value == nil {
		t.Errorf("%s: %s %s answered %d, which the document does not declare", what, method, path, r.status)
		return
	}
	declared := map[string]bool{}
	for name := range resp.Value.Headers {
		declared[strings.ToLower(name)] = true
	}
	for name := range r.header {
		if key := strings.ToLower(name); !framingHeaders[key] && !declared[key] {
			t.Errorf("%s: %s %s -> %d sends %s, which the document does not declare on that response", what, method, path, r.status, name)
		}
	}
}

// TestSentHeadersDocumented provokes the answers whose headers are easy to
// forget in the document (a create still running, a body of the wrong
// media type, a replayed refusal, a revalidated GET) and checks that every
// header each one carries is declared on its response.
func TestSentHeadersDocumented(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	doc := strictDocument(t)
	create := func(body, key string) response {
		t.Helper()
		return g.exchange(t, fasthttp.MethodPost, "/v2/experiments", func(req *fasthttp.Request) {
			req.Header.SetContentType("application/json")
			req.Header.Set(server.IdempotencyKeyHeader, key)
			req.SetBodyString(body)
		}, nil)
	}
	check := func(what string, r response, status int, method, path string) {
		t.Helper()
		if r.status != status {
			t.Errorf("%s: status %d, want %d: %s", what, r.status, status, r.body)
			return
		}
		checkHeadersDocumented(t, doc, what, method, path, r)
	}
	const body = `{"project_id":"3","name":"checkout button"}`

	// 409 with Retry-After: a create whose first attempt is still running.
	slow := model.Fixed(400 * time.Millisecond)
	if err := c.SetConfig(model.ServiceExperiments, model.Service{Latency: &slow}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { create(body, "headers-busy") })
	poll.Until(t, 5*time.Second, "the first create to reach the backend", func() bool {
		return c.Stats(model.ServiceExperiments).Routes[model.RouteCreateExperiment].InFlight > 0
	})
	busy := create(body, "headers-busy")
	if busy.header.Get("Retry-After") == "" {
		t.Errorf("a create still running: no Retry-After")
	}
	check("a create still running", busy, 409, "POST", "/v2/experiments")
	wg.Wait()
	if err := c.SetConfig(model.ServiceExperiments, model.Service{Latency: &model.Latency{Kind: "none"}}); err != nil {
		t.Fatal(err)
	}

	// 415 with the rate limits: the token was counted before the body's
	// media type was refused.
	r := g.do(t, fasthttp.MethodPost, "/v2/experiments", "text/plain", []byte(body))
	if r.header.Get(server.RateLimitLimitHeader) == "" {
		t.Errorf("415: no %s", server.RateLimitLimitHeader)
	}
	check("a body of another media type", r, 415, "POST", "/v2/experiments")

	// A replayed 422 says Idempotent-Replayed.
	const unknownProject = `{"project_id":"51","name":"n"}`
	check("a refused create", create(unknownProject, "headers-422"), 422, "POST", "/v2/experiments")
	replayed := create(unknownProject, "headers-422")
	if replayed.header.Get(server.ReplayedHeader) != "true" {
		t.Errorf("the replayed 422: %s %q, want true", server.ReplayedHeader, replayed.header.Get(server.ReplayedHeader))
	}
	check("a replayed refusal", replayed, 422, "POST", "/v2/experiments")

	// 304 with Server-Timing: the calls ran before the tag was compared.
	for uri, path := range map[string]string{
		"/v2/experiments/42/results":   "/v2/experiments/{experiment_id}/results",
		"/v2/experiments/42":           "/v2/experiments/{experiment_id}",
		"/v2/projects/3":               "/v2/projects/{project_id}",
		"/v2/experiments?project_id=3": "/v2/experiments",
	} {
		tag := g.get(t, uri).header.Get("ETag")
		r := g.exchange(t, fasthttp.MethodGet, uri, func(req *fasthttp.Request) { req.Header.Set("If-None-Match", tag) }, nil)
		if !strings.Contains(r.header.Get("Server-Timing"), "total;dur=") {
			t.Errorf("%s: 304 without Server-Timing: %v", uri, r.header)
		}
		check(uri+" revalidated", r, 304, "GET", path)
	}
}

// TestIfNoneMatchSchemaMatchesWire: the document's schema of If-None-Match
// accepts exactly the values the gateway takes on the wire. A value with a
// control character (other than a tab) is not a valid field value and is
// refused with 400 before any validation; any other text is taken, and
// only "*" or an entity tag in it can ever match (transfer.go's
// noneMatchHas), so a client that reads the schema is neither refused for
// a value it was told is fine nor told a value is fine that is refused.
func TestIfNoneMatchSchemaMatchesWire(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	doc := strictDocument(t)
	param := doc.Components.Parameters["IfNoneMatch"]
	if param == nil || param.Value == nil || param.Value.Schema == nil {
		t.Fatal("the document has no IfNoneMatch parameter")
	}
	schema := param.Value.Schema.Value
	for _, tc := range []struct {
		value  string
		accept bool
		why    string
	}{
		{`"5d41402abc4b2a76"`, true, "a strong tag"},
		{`W/"x", "y"`, true, "a list with a weak tag"},
		{`*`, true, "any representation"},
		{`5d41402abc4b2a76`, true, "an unquoted tag never matches, but is taken"},
		{"\"a\tb\"", true, "a tab is a field value's whitespace"},
		{"caf\u00e9", true, "bytes above ASCII are obs-text"},
		{"a\x01b", false, "a control character"},
		{"\"a\x1fb\"", false, "the last control character below space"},
		{"\"a\x7fb\"", false, "DEL"},
	} {
		r := g.exchange(t, fasthttp.MethodGet, "/v2/experiments/42", func(req *fasthttp.Request) { req.Header.Set("If-None-Match", tc.value) }, nil)
		taken := r.status != fasthttp.StatusBadRequest
		documented := schema.VisitJSON(tc.value) == nil
		if taken != tc.accept {
			t.Errorf("%q (%s): the gateway answered %d; taken %v, want %v", tc.value, tc.why, r.status, taken, tc.accept)
		}
		if documented != taken {
			t.Errorf("%q (%s): the document's schema accepts it: %v; the gateway takes it: %v (status %d)", tc.value, tc.why, documented, taken, r.status)
		}
	}
}
