package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/tracing"
	"fanout/gateway/internal/transport"

	"github.com/valyala/fasthttp"
)

// discardingCollector is an OTLP/HTTP endpoint that reads and drops what
// it is sent, so that a benchmark pays for making and exporting spans and
// next to nothing for receiving them.
func discardingCollector(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResultsTracing is a whole results request through the handler
// with tracing off, and on with 1 % and 100 % of the traces recorded, to
// the same in-process collector. Besides ns/op it reports cpu-ns/op, the
// process's CPU time per request: the span processor exports from a
// goroutine of its own, whose work a wall-clock figure of one goroutine
// would not show. The fake backends' cost is in every figure alike.
func BenchmarkResultsTracing(b *testing.B) {
	for _, tc := range []struct {
		name   string
		sample float64 // <0: tracing off
	}{{"off", -1}, {"sample-1pct", 0.01}, {"sample-100pct", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := benchServer(b)
			if tc.sample >= 0 {
				tr, err := tracing.New(tracing.Config{Endpoint: discardingCollector(b), Sample: tc.sample, SampleGiven: true})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					// Not b.Context(): it is done before the cleanups run.
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = tr.Shutdown(ctx)
				})
				s.tracer = tr
			}
			cpu0 := cpuTime(b)
			benchHandler(b, s, "")
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestTracingOffAllocations: with tracing off and the access log sampling
// no success, what the server adds to a request for them (starting its
// trace, ending it, binding the trace to its calls, observing each call)
// costs no allocation.
func TestTracingOffAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked without -short and -race")
	}
	s, _ := benchServer(t)
	access, err := accesslog.New(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.access = access
	o := s.ops["getExperimentResults"]
	ctx := answeredPage("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	var st state
	if n := testing.AllocsPerRun(100, func() {
		start := time.Now()
		rt := s.startTrace(ctx, o)
		st.params.trace = rt
		d := st.traced(cannedDoer{})
		c := st.params.StartCall(t.Context(), &o.plan.Calls()[0])
		st.params.EndCall(c, &o.plan.Calls()[0], nil)
		_ = d
		s.finish(ctx, o, start, rt)
	}); n != 0 {
		t.Errorf("tracing off, a success not sampled: %v allocations, want none", n)
	}
}

// BenchmarkUnrecordedTrace is what tracing adds to a request whose trace
// is not recorded (99 of 100 at -trace-sample 1%), but for its calls'
// headers (backend's BenchmarkTraceHeaders): the server span started and
// ended unrecorded, from the client's traceparent, and the trace bound to
// the request's Exchange.
func BenchmarkUnrecordedTrace(b *testing.B) {
	s, _ := benchServer(b)
	tr, err := tracing.New(tracing.Config{Endpoint: discardingCollector(b), Sample: 0, SampleGiven: true})
	if err != nil {
		b.Fatal(err)
	}
	s.tracer = tr
	o := s.ops["getExperimentResults"]
	// The client's trace, not sampled: the parent-based sampler follows it.
	ctx := answeredPage("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		rt := s.startTrace(ctx, o)
		s.begin(ctx, o, start, rt).end()
		s.finish(ctx, o, start, rt)
	}
}

// answeredPage is a results page request with the client's traceparent,
// answered 200 with a request id.
func answeredPage(traceparent string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.SetRequestURI("/v2/experiments/42/results")
	ctx.Request.Header.Set("traceparent", traceparent)
	ctx.SetStatusCode(fasthttp.StatusOK)
	transport.SetRequestID(ctx)
	return ctx
}
