package server

import (
	"context"
	"testing"
	"time"

	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/tracing"
	"fanout/gateway/internal/tracing/tracingtest"

	"github.com/valyala/fasthttp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestTraceOfAShedRequest: a request the overload limit sheds has a
// server span, an error, that says it was refused as overloaded, and no
// client span: no backend was called.
func TestTraceOfAShedRequest(t *testing.T) {
	s, f := benchServer(t)
	rcv := tracingtest.New(t)
	tr, err := tracing.New(tracing.Config{Endpoint: rcv.URL, Sample: 1, SampleGiven: true})
	if err != nil {
		t.Fatal(err)
	}
	s.tracer = tr
	if s.limiter, err = overload.New(overload.Settings{Min: 1, Max: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.limiter.Close)
	if !s.limiter.Acquire(overload.Sheddable) {
		t.Fatal("the limit's one place is not free")
	}
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v2/experiments/42/results")
	ctx.Request.Header.Set("traceparent", "00-"+tid+"-00f067aa0ba902b7-01")
	s.Handler()(&ctx)
	if ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	spans := rcv.Spans(tid)
	if len(spans) != 1 || spans[0].Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("%d spans, want the server span alone", len(spans))
	}
	sp := spans[0]
	if tracingtest.Attr(sp.Attributes, "fanout.refused") != "overloaded" || tracingtest.Attr(sp.Attributes, "http.response.status_code") != "503" ||
		sp.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("shed request's span: %v, status %v", sp.Attributes, sp.Status)
	}
	if n := f.Calls("experiments") + f.Calls("results"); n != 0 {
		t.Errorf("%d backend calls for a shed request", n)
	}
}
