package assembly_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/fanout"
	"fanout/gateway/internal/config"

	"github.com/valyala/fasthttp"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestPlans: the plans are those of the document's x-fanout operations,
// the very values the loaded spec (and so the server) holds, and their
// graph is the aggregate's: experiment, then layer and settings from its
// fields, results beside them from the start.
func TestPlans(t *testing.T) {
	plans, err := assembly.Plans()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	fanouts := 0
	for _, op := range doc.Operations() {
		if op.Fanout != nil {
			fanouts++
		}
	}
	if len(plans) != fanouts || fanouts == 0 {
		t.Fatalf("%d plans for %d operations with x-fanout", len(plans), fanouts)
	}
	var results *fanout.Plan
	for _, p := range plans {
		if got := doc.Operation(p.ID); got == nil || got.Plan != p.Plan || got.Method != p.Method || got.Path != p.Path {
			t.Errorf("plan of %s is not the spec's own", p.ID)
		}
		if p.Method == "GET" && p.Path == "/v2/experiments/{experiment_id}/results" {
			results = p.Plan
		}
	}
	if results == nil {
		t.Fatal("no plan for GET /v2/experiments/{experiment_id}/results")
	}
	ms := map[string]time.Duration{"experiment": 20, "layer": 15, "settings": 10, "results": 40}
	d := func(c fanout.Call) time.Duration { return ms[c.Spec.Name] * time.Millisecond }
	if cp, sum := results.CriticalPath(d), results.Sum(d); cp != 40*time.Millisecond || sum != 85*time.Millisecond {
		t.Errorf("critical path %v, sum %v; want 40ms, 85ms", cp, sum)
	}
}

// TestServesItsDocument: the assembled gateway serves the public view of
// the embedded document (the document minus its extensions), a caller
// changing its copy of Document changes nothing, and Document is the full
// document, x-fanout included, the source of the view.
func TestServesItsDocument(t *testing.T) {
	gw, err := assembly.New(config.Default(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Shutdown(context.Background())
	doc := assembly.Document()
	if !bytes.HasPrefix(doc, []byte("openapi: 3.")) || !bytes.Contains(doc, []byte("x-fanout:")) {
		t.Fatalf("document starts %q, x-fanout: %v", doc[:min(len(doc), 20)], bytes.Contains(doc, []byte("x-fanout:")))
	}
	doc[0] = 'X'
	s, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/openapi.yaml")
	gw.Server().Handler()(&ctx)
	if ctx.Response.StatusCode() != 200 || !bytes.Equal(ctx.Response.Body(), s.PublicYAML()) || !bytes.HasPrefix(s.PublicYAML(), []byte("openapi: 3.")) {
		t.Errorf("status %d, served %d bytes, the public view has %d", ctx.Response.StatusCode(), len(ctx.Response.Body()), len(s.PublicYAML()))
	}
}

// TestNewRefuses: a config the gateway cannot run is an error that says
// why, not a gateway that fails on its first request.
func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		// The mode picks the executor.
		{"mode", func(c *config.Config) { c.Mode = "parallel" }, "parallel"},
		// The document's calls name backends the config must have.
		{"backend", func(c *config.Config) { delete(c.Backends, "layers") }, `"layers"`},
		// A backend no call names (a misspelt -backend result=...) is
		// refused, naming the ones the document calls.
		{"unknown backend", func(c *config.Config) {
			maps.Copy(c.Backends, config.Backends(map[string]string{"result": "127.0.0.1:9104"}))
		}, `unknown backend "result": the document calls experiments, layers, projects, results`},
		// No backend at all.
		{"no backends", func(c *config.Config) { clear(c.Backends) }, "no backends"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			c.edit(&cfg)
			_, err := assembly.New(cfg, quiet())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

// brokenListener fails every Accept, as a listener whose socket is gone.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: broken") }
func (brokenListener) Close() error              { return nil }
func (brokenListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestStartReportsAFailedListener: a listener that stops on its own closes
// Failed, and Shutdown, after stopping the rest, returns its error; a
// listener stopped by Shutdown is no error.
func TestStartReportsAFailedListener(t *testing.T) {
	cfg := config.Default()
	cfg.AdminAddr = config.AdminOff
	gw, err := assembly.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw.Start(brokenListener{}, admin)
	select {
	case <-gw.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("a broken listener did not close Failed")
	}
	err = gw.Shutdown(context.Background())
	if err == nil || !strings.Contains(err.Error(), "accept: broken") {
		t.Fatalf("shutdown: %v, want the listener's error", err)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("shutdown: %v, want the broken listener's error alone", err)
	}
}
