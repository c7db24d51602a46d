package server_test

import (
	"encoding/json"
	"mime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/poll"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/valyala/fasthttp"
)

// strictDocument loads the embedded document afresh, a copy that shares
// nothing with the gateway's, and closes every object schema that lists
// properties (additionalProperties: false), so that a field a response
// carries and the document does not describe is an error. Objects without
// properties (a free-form object) stay open. (Closing the branches of an
// allOf would refuse the fields of the other branches; the document has
// none.)
func strictDocument(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(assembly.Document())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*openapi3.Schema]bool{}
	var closeSchema func(ref *openapi3.SchemaRef)
	closeSchema = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			closeSchema(p)
		}
		closeSchema(s.Items)
		closeSchema(s.AdditionalProperties.Schema)
		closeSchema(s.Not)
		for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
			closeSchema(sub)
		}
	}
	for _, ref := range doc.Components.Schemas {
		closeSchema(ref)
	}
	for _, ref := range doc.Components.Responses {
		for _, mt := range ref.Value.Content {
			closeSchema(mt.Schema)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, ref := range op.Responses.Map() {
				for _, mt := range ref.Value.Content {
					closeSchema(mt.Schema)
				}
			}
		}
	}
	return doc
}

// wireCase is one request whose answer must have the given status and a
// body the strict document describes for that status.
type wireCase struct {
	name   string
	method string
	uri    string
	body   string
	status int
}

// checkWire sends c to g and decodes the answer against the strict
// document: the status must be one the operation declares (or its
// default), the media type one that response declares, and the body must
// match its schema with no field left undescribed. It returns the
// operation's id.
func checkWire(t *testing.T, g *gateway, strict *openapi3.T, c wireCase) string {
	t.Helper()
	ct := ""
	var body []byte
	if c.body != "" {
		ct, body = "application/json", []byte(c.body)
	}
	r := g.do(t, c.method, c.uri, ct, body)
	if r.status != c.status {
		t.Errorf("%s: %s %s: status %d, want %d: %s", c.name, c.method, c.uri, r.status, c.status, r.body)
		return ""
	}
	route, _ := g.route(t, c.method, strings.SplitN(c.uri, "?", 2)[0])
	op := strict.Paths.Value(route.Path).GetOperation(c.method)
	resp := op.Responses.Status(r.status)
	if resp == nil {
		if resp = op.Responses.Default(); resp == nil {
			t.Errorf("%s: %s answered %d, which the document does not declare", c.name, op.OperationID, r.status)
			return op.OperationID
		}
	}
	mt, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", c.name, r.header.Get("Content-Type"), err)
		return op.OperationID
	}
	media := resp.Value.Content.Get(mt)
	if media == nil || media.Schema == nil {
		t.Errorf("%s: %s %d: media type %q is not declared", c.name, op.OperationID, r.status, mt)
		return op.OperationID
	}
	// The YAML rendering is the same document as the JSON one, checked
	// there; only JSON bodies are decoded here.
	if !strings.HasSuffix(mt, "json") {
		return op.OperationID
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", c.name, err, r.body)
		return op.OperationID
	}
	if err := media.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("%s: %s %s -> %d: the body does not match the document: %v\nbody: %s", c.name, c.method, c.uri, r.status, err, r.body)
	}
	// Headers too, against the document as the gateway loaded it, and
	// none sent that the document does not declare.
	g.validateResponse(t, c.method, c.uri, r)
	checkHeadersDocumented(t, strict, c.name, c.method, route.Path, r)
	return op.OperationID
}

// TestWireMatchesDocument calls every operation of the gateway, served
// with the mock backends, for each status the mocks can be made to
// provoke, and decodes every answer against the document with
// additionalProperties: false on every object: a field the document does
// not describe fails it, as does a status or media type it does not list.
func TestWireMatchesDocument(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	strict := strictDocument(t)

	const create = `{"project_id":"3","name":"Checkout button colour","description":"Does green sell more?","layer_id":"10",` +
		`"variations":[{"key":"control","name":"Blue","weight":0.5},{"key":"green","weight":0.5}]}`
	cases := []wireCase{
		{"project", "GET", "/v2/projects/3", "", 200},
		{"project id malformed", "GET", "/v2/projects/abc", "", 400},
		{"project unknown", "GET", "/v2/projects/999999", "", 404},
		{"list", "GET", "/v2/experiments?project_id=3", "", 200},
		{"list paged", "GET", "/v2/experiments?project_id=3&page=2&per_page=7", "", 200},
		{"list past the end", "GET", "/v2/experiments?project_id=3&page=99", "", 200},
		{"list per_page too big", "GET", "/v2/experiments?project_id=3&per_page=101", "", 400},
		{"list unknown project", "GET", "/v2/experiments?project_id=999999", "", 404},
		{"create", "POST", "/v2/experiments", create, 201},
		{"create defaults", "POST", "/v2/experiments", `{"project_id":"3","name":"Defaults"}`, 201},
		{"create schema violation", "POST", "/v2/experiments", `{"project_id":"3","name":"","colour":"red"}`, 400},
		{"create unknown project", "POST", "/v2/experiments", `{"project_id":"51","name":"n"}`, 422},
		{"create layer of another project", "POST", "/v2/experiments", `{"project_id":"3","name":"n","layer_id":"1"}`, 422},
		{"create weights not summing to 1", "POST", "/v2/experiments",
			`{"project_id":"3","name":"n","variations":[{"key":"a","weight":0.5},{"key":"b","weight":0.4}]}`, 422},
		{"experiment", "GET", "/v2/experiments/42", "", 200},
		{"experiment draft", "GET", "/v2/experiments/2", "", 200},
		{"experiment created", "GET", "/v2/experiments/1001", "", 200},
		{"experiment id malformed", "GET", "/v2/experiments/0", "", 400},
		{"experiment unknown", "GET", "/v2/experiments/999999", "", 404},
		{"results", "GET", "/v2/experiments/42/results", "", 200},
		{"results of a draft", "GET", "/v2/experiments/2/results", "", 200},
		{"results id malformed", "GET", "/v2/experiments/x/results", "", 400},
		{"results unknown", "GET", "/v2/experiments/999999/results", "", 404},
	}
	// Experiments of every shape (2 to 4 variations, every status) too.
	for _, id := range []string{"1", "5", "9", "137", "500", "999", "1000"} {
		cases = append(cases,
			wireCase{"experiment " + id, "GET", "/v2/experiments/" + id, "", 200},
			wireCase{"results " + id, "GET", "/v2/experiments/" + id + "/results", "", 200})
	}
	provoked := map[string][]int{}
	for _, wc := range cases {
		if id := checkWire(t, g, strict, wc); id != "" {
			provoked[id] = append(provoked[id], wc.status)
		}
	}

	// The backends' failures: a required call's 500 is a 502, an optional
	// one's a partial page; a slow backend is a 504.
	none := model.Latency{Kind: "none"}
	faulty := func(service string, f model.Faults, l model.Latency) {
		t.Helper()
		if err := c.SetConfig(service, model.Service{Latency: &l, Faults: &f}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		service string
		faults  model.Faults
		cases   []wireCase
	}{
		{"projects", model.Faults{Error: 1}, []wireCase{
			{"project backend failing", "GET", "/v2/projects/3", "", 502},
			{"results without settings", "GET", "/v2/experiments/42/results", "", 200},
		}},
		{"layers", model.Faults{Malformed: 1}, []wireCase{
			{"results with a malformed layer", "GET", "/v2/experiments/42/results", "", 200},
		}},
		{"experiments", model.Faults{Error: 1}, []wireCase{
			{"list backend failing", "GET", "/v2/experiments?project_id=3", "", 502},
			{"create backend failing", "POST", "/v2/experiments", create, 502},
			{"experiment backend failing", "GET", "/v2/experiments/42", "", 502},
			{"results experiment failing", "GET", "/v2/experiments/42/results", "", 502},
		}},
		{"results", model.Faults{Reset: 1}, []wireCase{
			{"results backend resetting", "GET", "/v2/experiments/42/results", "", 502},
		}},
	} {
		faulty(f.service, f.faults, none)
		for _, wc := range f.cases {
			if id := checkWire(t, g, strict, wc); id != "" {
				provoked[id] = append(provoked[id], wc.status)
			}
		}
		faulty(f.service, model.Faults{}, none)
	}

	// A backend slower than the gateway's per-call timeout: 504. The
	// timeout leaves a loaded machine room to send the request (one not
	// sent in time is a 503, safe to retry), and the backend takes four
	// times as long.
	slow := startGateway(t, gatewayOptions{backends: c.Addrs(), timeout: 500 * time.Millisecond})
	late, err := model.ParseLatency("fixed:2s")
	if err != nil {
		t.Fatal(err)
	}
	for _, service := range []string{"projects", "experiments", "results"} {
		faulty(service, model.Faults{}, late)
	}
	for _, wc := range []wireCase{
		{"project timing out", "GET", "/v2/projects/3", "", 504},
		{"list timing out", "GET", "/v2/experiments?project_id=3", "", 504},
		{"create timing out", "POST", "/v2/experiments", create, 504},
		{"experiment timing out", "GET", "/v2/experiments/42", "", 504},
		{"results timing out", "GET", "/v2/experiments/42/results", "", 504},
	} {
		if id := checkWire(t, slow, strict, wc); id != "" {
			provoked[id] = append(provoked[id], wc.status)
		}
	}
	for _, service := range []string{"projects", "experiments", "results"} {
		faulty(service, model.Faults{}, none)
	}

	// No free connection to the backend: 503. One connection per backend,
	// held by a slow call, and a second call that cannot wait for it.
	held := startGateway(t, gatewayOptions{backends: c.Addrs(), deadline: 5 * time.Second, maxConns: 1, maxConnWait: 20 * time.Millisecond})
	slowest, err := model.ParseLatency("fixed:500ms")
	if err != nil {
		t.Fatal(err)
	}
	faulty("projects", model.Faults{}, slowest)
	done := make(chan response, 1)
	go func() { done <- held.get(t, "/v2/projects/3") }()
	poll.Until(t, 5*time.Second, "the first project call", func() bool { return c.Stats("projects").InFlight == 1 })
	if id := checkWire(t, held, strict, wireCase{"no free connection", "GET", "/v2/projects/3", "", 503}); id != "" {
		provoked[id] = append(provoked[id], 503)
	}
	if r := <-done; r.status != 200 {
		t.Errorf("the call holding the connection: status %d: %s", r.status, r.body)
	}
	faulty("projects", model.Faults{}, none)

	// Every operation of the document was called, and the statuses each
	// was seen to answer are listed for the reader.
	for _, op := range g.spec.Operations() {
		statuses := provoked[op.ID]
		if len(statuses) == 0 {
			t.Errorf("operation %s was never called", op.ID)
			continue
		}
		slices.Sort(statuses)
		statuses = slices.Compact(statuses)
		var declared []string
		for code := range strict.Paths.Value(op.Path).GetOperation(op.Method).Responses.Map() {
			declared = append(declared, code)
		}
		sort.Strings(declared)
		t.Logf("%s: answered %v of declared %v", op.ID, statuses, declared)
	}
}

// TestDocumentedRequestHeaders: the request headers the document declares
// are validated as it says (If-None-Match takes any entity tag,
// Idempotency-Key 1 to 255 printable ASCII characters), and the bearer
// token the document requires is not request validation's to check: these
// requests carry none.
func TestDocumentedRequestHeaders(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	// send is g.do with one more request header.
	send := func(method, uri, header, value, body string) response {
		t.Helper()
		return g.exchange(t, method, uri, func(req *fasthttp.Request) {
			req.Header.Set(header, value)
			if body != "" {
				req.Header.SetContentType("application/json")
				req.SetBodyString(body)
			}
		}, nil)
	}
	const create = `{"project_id":"3","name":"n"}`
	for _, tc := range []struct {
		method, uri, header, value, body string
		status                           int
	}{
		// Each row proves one header's rule.
		{"GET", "/v2/experiments/42", "If-None-Match", `"5d41402abc4b2a76"`, "", 200},
		{"GET", "/v2/experiments/42/results", "If-None-Match", `W/"x", "y"`, "", 200},
		{"GET", "/v2/projects/3", "If-None-Match", `*`, "", 304},
		{"POST", "/v2/experiments", "Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324", create, 201},
		{"POST", "/v2/experiments", "Idempotency-Key", strings.Repeat("k", 255), create, 201},
		{"POST", "/v2/experiments", "Idempotency-Key", strings.Repeat("k", 256), create, 400},
		{"POST", "/v2/experiments", "Idempotency-Key", "caf\u00e9", create, 400},
	} {
		r := send(tc.method, tc.uri, tc.header, tc.value, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s with %s %q: status %d, want %d: %s", tc.method, tc.uri, tc.header, tc.value, r.status, tc.status, r.body)
			continue
		}
		if tc.status == 400 && !strings.Contains(string(r.body), `"name":"`+tc.header+`","in":"header"`) {
			t.Errorf("%s %q: the problem does not name the header: %s", tc.header, tc.value, r.body)
		}
	}
}

// TestExamplesMatchDocument: every example of a body in the document
// matches its schema with no field left undescribed, so that the examples
// clients read stay true as the schemas change.
func TestExamplesMatchDocument(t *testing.T) {
	strict := strictDocument(t)
	check := func(where string, mt *openapi3.MediaType) {
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
			return
		}
		if mt.Example == nil {
			t.Errorf("%s: no example", where)
			return
		}
		// The loader gives YAML's types; JSON's are what a body decodes to.
		b, err := json.Marshal(mt.Example)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := mt.Schema.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
			t.Errorf("%s: the example does not match the schema: %v", where, err)
		}
	}
	n := 0
	for name, ref := range strict.Components.Responses {
		for media, mt := range ref.Value.Content {
			check("response "+name+" "+media, mt)
			n++
		}
	}
	for path, item := range strict.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				for media, mt := range op.RequestBody.Value.Content {
					check(method+" "+path+" request "+media, mt)
					n++
				}
			}
			for code, ref := range op.Responses.Map() {
				if ref.Ref != "" || strings.HasPrefix(path, "/openapi.") {
					continue // checked under components; the document itself has none
				}
				for media, mt := range ref.Value.Content {
					check(method+" "+path+" "+code+" "+media, mt)
					n++
				}
			}
		}
	}
	t.Logf("%d examples checked", n)
}
