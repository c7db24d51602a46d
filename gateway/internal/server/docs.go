package server

import (
	"fmt"
	"time"

	"fanout/gateway/internal/redoc"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// docsCSP is the Content-Security-Policy of the /docs page: only the
// gateway's own bundle and document. Redoc styles its elements with
// inline <style> blocks and runs its search index in a worker it makes
// from a blob: URL, hence those two exceptions.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ownRoute is a route the gateway serves outside the document: the
// document itself and its reference page, which describe the API rather
// than belong to it. They answer GET and HEAD.
type ownRoute struct {
	path        string
	contentType string
	body        []byte
	// header holds further response headers.
	header map[string]string
	// cacheable gives the route the ETag, 304 and compression of the
	// document's GETs (the document is 40 KB of text that clients fetch
	// again and again); the static assets of /docs go as they are.
	cacheable bool
}

// ownRoutes returns the routes the gateway serves outside the document,
// with their bodies, rendered once at start-up: the public view of the
// document (no x- extensions) as YAML and JSON, and the /docs page with
// its Redoc bundle.
func (s *Server) ownRoutes() ([]ownRoute, error) {
	page, err := redoc.Page("Fanout API reference", "openapi.json", "docs/redoc.standalone.js")
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	return []ownRoute{
		{path: "/openapi.yaml", contentType: "application/yaml", body: s.spec.PublicYAML(), cacheable: true},
		{path: "/openapi.json", contentType: "application/json", body: s.spec.PublicJSON(), cacheable: true},
		{path: "/docs", contentType: "text/html; charset=utf-8", body: page,
			header: map[string]string{"Content-Security-Policy": docsCSP, "X-Content-Type-Options": "nosniff"}},
		{path: "/docs/redoc.standalone.js", contentType: "text/javascript; charset=utf-8", body: redoc.Script,
			header: map[string]string{"X-Content-Type-Options": "nosniff"}},
	}, nil
}

// handleOwn registers routes on r, each observed in the metrics as an
// operation is.
func (s *Server) handleOwn(r *router.Router, routes []ownRoute) {
	for _, route := range routes {
		metric := s.metrics.Route(fasthttp.MethodGet, route.path)
		serve := func(ctx *fasthttp.RequestCtx) {
			start := time.Now()
			ctx.SetContentType(route.contentType)
			for k, v := range route.header {
				ctx.Response.Header.Set(k, v)
			}
			// The body is shared and read-only: SetBodyRaw does not copy it.
			ctx.Response.SetBodyRaw(route.body)
			if route.cacheable {
				s.finishGET(ctx)
			}
			metric.Observe(ctx.Response.StatusCode(), time.Since(start))
		}
		r.Handle(fasthttp.MethodGet, route.path, serve)
		r.Handle(fasthttp.MethodHead, route.path, serve)
	}
}
