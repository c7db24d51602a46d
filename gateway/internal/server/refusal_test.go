package server_test

import (
	"reflect"
	"strings"
	"testing"

	"fanout/gateway/internal/problem"
	"fanout/mockbackends/mock"

	"github.com/valyala/fasthttp"
)

// TestRefusalNamesTheField: a create the experiments service refuses on a
// business rule reaches the client as a 422 problem whose invalid_params
// names the field, and the gateway's own 400 for a body that does not
// match the document names fields by the same kind of path.
func TestRefusalNamesTheField(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		// Each row proves one rule and the field its problem names.
		{`{"project_id":"51","name":"n"}`, 422, "project_id"},
		{`{"project_id":"3","name":"n","layer_id":"1"}`, 422, "layer_id"},
		{`{"project_id":"3","name":"n","layer_id":"9999"}`, 422, "layer_id"},
		{`{"project_id":"3","name":"n","variations":[{"key":"a"},{"key":"a"}]}`, 422, "variations[1].key"},
		{`{"project_id":"3","name":"n","variations":[{"key":"a","weight":1},{"key":"b"}]}`, 422, "variations[1].weight"},
		{`{"project_id":"3","name":"n","variations":[{"key":"a","weight":0.5},{"key":"b","weight":0.4}]}`, 422, "variations"},
		// The gateway's own 400s, before any call.
		{`{"project_id":"3","name":"n","variations":[{"key":"a"},{"key":"b","weight":2}]}`, 400, "variations[1].weight"},
		{`{"project_id":"3","name":"n","variations":[{"key":"a"},{"key":"b","size":1}]}`, 400, "variations[1].size"},
	} {
		r := g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", []byte(tc.body))
		p := checkProblem(t, r, tc.status)
		g.validateResponse(t, fasthttp.MethodPost, "/v2/experiments", r)
		named := false
		for _, ip := range p.InvalidParams {
			named = named || ip.Name == tc.field && ip.In == "body" && ip.Reason != ""
		}
		if !named {
			t.Errorf("%s: %d %s: invalid_params does not name %q", tc.body, r.status, r.body, tc.field)
		}
	}
}

// TestRefusalUntrusted: of a backend's refusal the gateway passes on only
// the invalid_params entries whose name is a field path of the request
// body's schema and whose reason is short plain text, re-encoded; the
// rest of the backend's bytes stay out of the answer.
func TestRefusalUntrusted(t *testing.T) {
	long := strings.Repeat("r", 201)
	refusal := `{"type":"urn:evil","title":"<b>pwned</b>","status":200,"detail":"internal 10.0.0.7 stack",` +
		`"secret":"s3cr3t","invalid_params":[` +
		`{"name":"variations[1].weight","reason":"weights must sum to 1","in":"query","extra":"x"},` +
		`{"name":"layer_id","reason":"layer 1 belongs to project 1"},` +
		`{"name":"owner","reason":"not a field of the body"},` +
		`{"name":"variations[1].colour","reason":"not a field of a variation"},` +
		`{"name":"name.first","reason":"name is a string"},` +
		`{"name":"../../etc/passwd","reason":"path"},` +
		`{"name":"variations[99999].key","reason":"index too long"},` +
		`{"name":"name","reason":"` + long + `"},` +
		`{"name":"name","reason":"bell\u0007"},` +
		`{"name":"name","reason":""},` +
		`{"name":"name","reason":42},` +
		`{"name":["name"],"reason":"x"},` +
		`"name",null]}`
	for _, status := range []int{422, 400} {
		routes := goodRoutes()
		routes["/experiments"] = answerWith(status, refusal)
		g, _ := withRaw(t, gatewayOptions{}, routes)
		r := g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", []byte(`{"project_id":"3","name":"n"}`))
		p := checkProblem(t, r, status)
		g.validateResponse(t, fasthttp.MethodPost, "/v2/experiments", r)
		want := []problem.InvalidParam{
			{Name: "variations[1].weight", In: "body", Reason: "weights must sum to 1"},
			{Name: "layer_id", In: "body", Reason: "layer 1 belongs to project 1"},
		}
		if !reflect.DeepEqual(p.InvalidParams, want) {
			t.Errorf("%d: invalid_params %+v, want %+v", status, p.InvalidParams, want)
		}
		for _, leak := range []string{"secret", "s3cr3t", "pwned", "10.0.0.7", "urn:evil", "owner", "passwd"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("%d: the answer carries the backend's %q: %s", status, leak, r.body)
			}
		}
	}
	// A refusal without invalid_params, or not JSON, is still the status,
	// with no entries.
	for _, body := range []string{`{"error":"no"}`, `not json`, `{"invalid_params":"x"}`} {
		routes := goodRoutes()
		routes["/experiments"] = answerWith(422, body)
		g, _ := withRaw(t, gatewayOptions{}, routes)
		r := g.do(t, fasthttp.MethodPost, "/v2/experiments", "application/json", []byte(`{"project_id":"3","name":"n"}`))
		if p := checkProblem(t, r, 422); len(p.InvalidParams) != 0 {
			t.Errorf("%s: invalid_params %+v", body, p.InvalidParams)
		}
	}
}
