package server

import (
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/transport"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// newExpectRouter routes a request that expects 100-continue to the checks
// of its operation's headers.
func (s *Server) newExpectRouter() *router.Router {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	for _, op := range s.ops {
		r.Handle(op.doc.Method, op.doc.Path, func(ctx *fasthttp.RequestCtx) {
			if !s.refuseUnauthorized(ctx, op) {
				s.refuseUnsupportedBody(ctx, op)
			}
		})
	}
	return r
}

// refuseUnsupportedBody refuses (415) a request to a validated operation
// whose body comes in an encoding or a media type the operation does not
// take, and reports whether it did: the checks that need the headers only,
// made before the body is read and, for 100-continue, before it is sent.
func (s *Server) refuseUnsupportedBody(ctx *fasthttp.RequestCtx, op *operation) bool {
	if !op.validate || !op.doc.HasBody() {
		return false
	}
	detail := unsupportedEncoding(ctx.Request.Header.ContentEncoding())
	if detail == "" {
		detail = unsupportedMediaType(ctx, op.doc)
	}
	if detail == "" {
		return false
	}
	s.bodies.Refuse(ctx, problem.New(problem.TypeUnsupportedMediaType, fasthttp.StatusUnsupportedMediaType, detail))
	return true
}

// expect answers a request that expects 100-continue, before its body is
// sent: 100 only once its headers pass the checks that do not need the body
// (size, route, media type, and room in the body budget now), else the
// refusal, with its problem. fasthttp
// then writes the response as it stands, without calling the handler, and
// closes the connection (server.go, the ExpectHandler branch of serveConn).
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	// fasthttp calls expect outside the handler, which sets the id.
	transport.SetRequestID(ctx)
	if s.bodies.TooLarge(&ctx.Request.Header) {
		s.bodies.RefuseTooLarge(ctx)
		return fasthttp.StatusRequestEntityTooLarge
	}
	h, _ := s.expectRouter.Lookup(string(ctx.Method()), string(ctx.Path()), ctx)
	if h == nil {
		if h, _ := s.router.Lookup(string(ctx.Method()), string(ctx.Path()), ctx); h != nil {
			return fasthttp.StatusContinue // HEAD, which has no body to check
		}
		// No operation: the router's own answer, 404 or 405.
		s.router.Handler(ctx)
		transport.LingerOnClose(ctx.Conn())
		return ctx.Response.StatusCode()
	}
	h(ctx)
	if status := ctx.Response.StatusCode(); status != fasthttp.StatusOK {
		return status
	}
	if !s.bodies.Fits(ctx) {
		return ctx.Response.StatusCode()
	}
	return fasthttp.StatusContinue
}
