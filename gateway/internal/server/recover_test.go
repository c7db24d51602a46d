package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/spec"

	"github.com/valyala/fasthttp"
)

// TestRecover: a handler that panics yields a 500 problem and a log line,
// and the server goes on.
func TestRecover(t *testing.T) {
	var logged int
	s := &Server{
		metrics: metrics.New(),
		log:     slog.New(countingHandler{slog.NewTextHandler(io.Discard, nil), &logged}),
	}
	o := &operation{
		doc:    &spec.Operation{ID: "boom", Method: "GET", Path: "/boom"},
		handle: func(*Server, *request) { panic("boom") },
		route:  s.metrics.Route("GET", "/boom"),
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/boom")
	s.serve(o)(&ctx)
	if ctx.Response.StatusCode() != 500 || string(ctx.Response.Header.ContentType()) != problem.ContentType {
		t.Fatalf("status %d, content type %s", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
	}
	var p problem.Problem
	if err := json.Unmarshal(ctx.Response.Body(), &p); err != nil || p.Type != problem.TypeInternal {
		t.Fatalf("problem %s: %v", ctx.Response.Body(), err)
	}
	if logged != 1 {
		t.Fatalf("%d log lines, want 1", logged)
	}
	if s.metrics.InFlight() != 0 {
		t.Fatalf("in flight %d after a panic", s.metrics.InFlight())
	}
}

type countingHandler struct {
	slog.Handler
	n *int
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	*h.n++
	return h.Handler.Handle(ctx, r)
}
