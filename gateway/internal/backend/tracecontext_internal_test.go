package backend

import (
	"context"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
)

// unrecorded is the span context of a request whose trace is not recorded.
var unrecorded = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:  trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
})

// TestTraceHeaders: a call of an unrecorded trace sends the trace's id,
// its flags and a parent id of its own, and formatting it costs the call
// no allocation; a call whose context holds a span of the trace sends
// that span's id.
func TestTraceHeaders(t *testing.T) {
	var e Exchange
	e.SetTrace(unrecorded)
	var req fasthttp.Request
	e.setTraceHeaders(context.Background(), &req)
	first := string(req.Header.Peek(TraceparentHeader))
	e.setTraceHeaders(context.Background(), &req)
	second := string(req.Header.Peek(TraceparentHeader))
	if !strings.HasPrefix(first, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(first, "-00") || len(first) != traceparentLen {
		t.Errorf("traceparent %q", first)
	}
	if first[36:52] == second[36:52] || first[36:52] == "00f067aa0ba902b7" {
		t.Errorf("two calls sent parent ids %s and %s, the request's span is 00f067aa0ba902b7: want one of their own each", first[36:52], second[36:52])
	}
	span := trace.NewSpanContext(trace.SpanContextConfig{TraceID: unrecorded.TraceID(), SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled})
	e.setTraceHeaders(trace.ContextWithSpanContext(context.Background(), span), &req)
	if got := string(req.Header.Peek(TraceparentHeader)); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01" {
		t.Errorf("a call with its span sent %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { e.setTraceHeaders(context.Background(), &req) }); n != 0 {
		t.Errorf("%v allocations per call, want none", n)
	}
}

// BenchmarkTraceHeaders is what the trace context adds to a call of an
// unrecorded request: a random parent id and the header, formatted.
func BenchmarkTraceHeaders(b *testing.B) {
	var e Exchange
	e.SetTrace(unrecorded)
	var req fasthttp.Request
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.setTraceHeaders(ctx, &req)
	}
}
