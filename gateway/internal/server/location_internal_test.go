package server

import (
	"os"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// assemblyDoc is the gateway's document, edited by the replacements
// old, new, ... each of which must change it.
func assemblyDoc(t *testing.T, replacements ...string) []byte {
	t.Helper()
	data, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for i := 0; i+1 < len(replacements); i += 2 {
		edited := strings.ReplaceAll(doc, replacements[i], replacements[i+1])
		if edited == doc {
			t.Fatalf("the document has no %q", replacements[i])
		}
		doc = edited
	}
	return []byte(doc)
}

// TestLocationFollowsTheDocument: the Location of a created experiment is
// the path of the operation the 201 links to, with the field the link
// names: a document that moves the experiment moves the Location with it.
func TestLocationFollowsTheDocument(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  []byte
		want string
	}{
		// The gateway's own document.
		{"as shipped", assemblyDoc(t), "/v2/experiments/1001"},
		// The experiment served at another path.
		{"moved", assemblyDoc(t, "  /v2/experiments/{experiment_id}:\n", "  /v2/trials/{experiment_id}:\n"), "/v2/trials/1001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := serverOf(t, c.doc)
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI("/v2/experiments")
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBodyString(`{"project_id":"3","name":"New checkout"}`)
			s.Handler()(&ctx)
			if got := string(ctx.Response.Header.Peek("Location")); ctx.Response.StatusCode() != 201 || got != c.want {
				t.Fatalf("status %d, Location %q; want 201, %q: %s", ctx.Response.StatusCode(), got, c.want, ctx.Response.Body())
			}
		})
	}
}

// TestLocationNeedsALink: a create whose 201 declares Location but links
// to no resource, or to one the gateway cannot locate, is a start-up
// error rather than a Location built from a guess.
func TestLocationNeedsALink(t *testing.T) {
	const link = "          links:\n            getExperiment:\n              operationId: getExperiment\n"
	for _, c := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"no link", assemblyDoc(t, link, "          x-links:\n            getExperiment:\n              operationId: getExperiment\n"),
			"its 201 declares a Location header, yet no link"},
		// A list has no one resource to locate.
		{"a link to the list", assemblyDoc(t, link, "          links:\n            getExperiment:\n              operationId: listExperiments\n"),
			`operation "listExperiments": a Location fills one path parameter`},
		{"a parameter from a header", assemblyDoc(t, "experiment_id: $response.body#/id", "experiment_id: $response.header.Location"),
			`is not a top-level field of the body`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := tryServerOf(t, c.doc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
		})
	}
}
