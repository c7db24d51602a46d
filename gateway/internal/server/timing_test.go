package server_test

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestEveryRunIsTimed: every answer to a request whose calls ran carries
// Server-Timing with each call of the plan and the total, whatever ended
// the request: a page, a failed required call, or a body that composition
// cannot use.
func TestEveryRunIsTimed(t *testing.T) {
	for _, c := range []struct {
		name    string
		results func(rawRoutes)
		status  int
	}{
		// The page itself.
		{"page", func(rawRoutes) {}, fasthttp.StatusOK},
		// A required call that failed.
		{"results failed", func(r rawRoutes) { r["/results/42"] = answerWith(500, `{"error":"down"}`) }, fasthttp.StatusBadGateway},
		// A required call whose body the engine refuses: not an object.
		{"results not an object", func(r rawRoutes) { r["/results/42"] = answerWith(200, `[]`) }, fasthttp.StatusBadGateway},
	} {
		t.Run(c.name, func(t *testing.T) {
			routes := goodRoutes()
			c.results(routes)
			g, _ := withRaw(t, gatewayOptions{}, routes)
			r := g.get(t, "/v2/experiments/42/results")
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			timing := r.header.Get("Server-Timing")
			for _, call := range []string{"experiment;", "layer;", "settings;", "results;", "total;"} {
				if !strings.Contains(timing, call) {
					t.Errorf("Server-Timing %q lacks %s", timing, strings.TrimSuffix(call, ";"))
				}
			}
		})
	}
}
