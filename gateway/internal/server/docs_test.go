package server_test

import (
	"bytes"
	"strings"
	"testing"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/redoc"

	"github.com/valyala/fasthttp"
)

// TestServesThePublicDocument: /openapi.json and /openapi.yaml serve the
// public view of the document, without x-fanout (internal backend names
// and paths), and HEAD answers as GET does.
func TestServesThePublicDocument(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	if !bytes.Contains(assembly.Document(), []byte("x-fanout:")) {
		t.Fatal("the document has no x-fanout: this test proves nothing")
	}
	for _, c := range []struct {
		path, contentType string
		want              []byte
	}{
		{"/openapi.json", "application/json", g.spec.PublicJSON()},
		{"/openapi.yaml", "application/yaml", g.spec.PublicYAML()},
	} {
		r := g.get(t, c.path)
		if r.status != fasthttp.StatusOK || r.header.Get("Content-Type") != c.contentType {
			t.Errorf("%s: %d %q, want 200 %q", c.path, r.status, r.header.Get("Content-Type"), c.contentType)
		}
		if !bytes.Equal(r.body, c.want) {
			t.Errorf("%s: served %d bytes, the public view has %d", c.path, len(r.body), len(c.want))
		}
		// The document's description may name the extension; its key
		// and the backend paths it holds must not be served.
		for _, internal := range []string{"x-fanout:", `"x-fanout"`, "/results/{experiment_id}", "/projects/{experiment.project_id}/settings"} {
			if bytes.Contains(r.body, []byte(internal)) {
				t.Errorf("%s tells %q", c.path, internal)
			}
		}
		head := g.do(t, fasthttp.MethodHead, c.path, "", nil)
		if head.status != fasthttp.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != r.header.Get("Content-Length") {
			t.Errorf("HEAD %s: %d, %d bytes, Content-Length %q", c.path, head.status, len(head.body), head.header.Get("Content-Length"))
		}
	}
}

// TestServesTheDocsPage: /docs is an HTML page that loads the embedded
// Redoc bundle and the public document from the gateway itself, by
// relative URLs, and the bundle is served byte for byte. (The page's
// rendering is TestDocsPageInABrowser's.)
func TestServesTheDocsPage(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	r := g.get(t, "/docs")
	if r.status != fasthttp.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %q", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{`spec-url="openapi.json"`, `src="docs/redoc.standalone.js"`} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/docs has no %s: %s", want, r.body)
		}
	}
	// The policy is what makes a load from elsewhere an error that the
	// browser test sees.
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/docs Content-Security-Policy %q", csp)
	}
	for _, remote := range []string{"http:", "https:", `"//`} {
		if bytes.Contains(r.body, []byte(remote)) {
			t.Errorf("/docs refers to another host (%s): %s", remote, r.body)
		}
	}
	js := g.get(t, "/docs/redoc.standalone.js")
	if js.status != fasthttp.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !bytes.Equal(js.body, redoc.Script) {
		t.Errorf("/docs/redoc.standalone.js: %d %q, %d bytes, want the %d of the bundle", js.status, js.header.Get("Content-Type"), len(js.body), len(redoc.Script))
	}
	// The routes the gateway serves outside the document take only GET
	// and HEAD, like the document's own.
	checkProblem(t, g.do(t, fasthttp.MethodPost, "/docs", "application/json", []byte("{}")), fasthttp.StatusMethodNotAllowed)
	checkProblem(t, g.get(t, "/docs/other.js"), fasthttp.StatusNotFound)
}

// TestOwnRoutesAreNotInTheDocument: the document describes the API, not
// the gateway's own pages, and a document that claims one of their paths
// is refused at start-up, naming it.
func TestOwnRoutesAreNotInTheDocument(t *testing.T) {
	doc, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range doc.Operations() {
		if !strings.HasPrefix(op.Path, "/v2/") {
			t.Errorf("operation %s at %s: not part of the /v2 API", op.ID, op.Path)
		}
	}
	base := string(assembly.Document())
	edited := strings.Replace(base, "components:\n", "  /docs:\n    get:\n      operationId: getDocs\n      responses:\n        '200':\n          description: x\ncomponents:\n", 1)
	if edited == base {
		t.Fatal("the edit changed nothing")
	}
	err = newServer(t, []byte(edited))
	if err == nil || !strings.Contains(err.Error(), "/docs") {
		t.Fatalf("error %v, want one naming /docs", err)
	}
}
