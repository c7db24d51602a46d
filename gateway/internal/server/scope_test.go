package server_test

import (
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// TestForeignProjectCostsNoCall: a read that names a project the token
// does not see, in its project_id parameter, is answered 404 as a project
// that does not exist before any backend call: no backend learns of it,
// and no call's timing can tell it from a missing one. The same reads in
// the token's project do reach the backends, which proves the count.
func TestForeignProjectCostsNoCall(t *testing.T) {
	routes := goodRoutes()
	routes["/projects/"] = answerWith(200, string(backendtest.Project(3)))
	routes["/experiments?"] = answerWith(200, string(backendtest.ExperimentPage(1, 20)))
	tokens := assemblytest.TokensFile(t, assemblytest.TokenEntry("scoped", scopedSecret, "[3]", "read", "{limit: 1000, per: 1s}"))
	g, raw := withRaw(t, gatewayOptions{tokens: tokens}, routes)
	scoped := func(r *fasthttp.Request) { r.Header.Set("Authorization", "Bearer "+scopedSecret) }
	for _, c := range []struct {
		name, foreign, own, backendPath, call string
	}{
		// A project id in the path.
		{"path", "/v2/projects/7", "/v2/projects/3", "/projects/", "project"},
		// A project id in the query.
		{"query", "/v2/experiments?project_id=7", "/v2/experiments?project_id=3", "/experiments?", "experiments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := countPrefix(raw.Requests(), c.backendPath)
			r := g.exchange(t, "GET", c.foreign, scoped, nil)
			p := checkProblem(t, r, fasthttp.StatusNotFound)
			if p.Type != problem.TypeNotFound || p.Call != c.call || p.Detail != "the "+c.call+" does not exist" {
				t.Errorf("%s: %s, want the problem of a %s that does not exist", c.foreign, r.body, c.call)
			}
			if got := r.header.Get("Server-Timing"); len(got) < 6 || got[:6] != "total;" {
				t.Errorf("%s: Server-Timing %q, want the total only", c.foreign, got)
			}
			if n := countPrefix(raw.Requests(), c.backendPath) - before; n != 0 {
				t.Errorf("%s: %d calls reached the backend, want none", c.foreign, n)
			}
			if r := g.exchange(t, "GET", c.own, scoped, nil); r.status != 200 {
				t.Fatalf("%s: %d %s", c.own, r.status, r.body)
			}
			if n := countPrefix(raw.Requests(), c.backendPath) - before; n != 1 {
				t.Errorf("%s: %d calls reached the backend, want 1", c.own, n)
			}
		})
	}
}
