package assembly_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/tracing/tracingtest"

	"github.com/valyala/fasthttp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// tracedGateway serves a gateway whose backends are a Fake on TCP and
// whose spans go to a receiver, every trace recorded (sample 1) unless
// sample says otherwise. The caller shuts it down, which flushes the
// spans.
func tracedGateway(t *testing.T, sample config.Ratio, edit func(*config.Config)) (*assembly.Gateway, string, *backendtest.Fake, *tracingtest.Receiver) {
	t.Helper()
	rcv := tracingtest.New(t)
	fake, addr := backendtest.StartTCP(t)
	cfg := config.Default()
	cfg.Backends = config.Backends(backendtest.Addrs(addr))
	cfg.OTLPEndpoint = rcv.URL
	cfg.TraceSample = config.OptionalRatio{Ratio: sample, Given: true}
	cfg = assemblytest.Authorize(t, cfg)
	if edit != nil {
		edit(&cfg)
	}
	gw, err := assembly.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	public, _, err := gw.Listen("127.0.0.1:0", config.AdminOff)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, gw) })
	return gw, public.String(), fake, rcv
}

var shutdowns sync.Map

// shutdown shuts gw down once, flushing its spans.
func shutdown(t *testing.T, gw *assembly.Gateway) {
	if _, done := shutdowns.LoadOrStore(gw, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// get sends GET uri to the gateway at addr with the headers given (name,
// value pairs) and returns the status and the response headers.
func get(t *testing.T, addr, uri string, headers ...string) (int, *fasthttp.ResponseHeader) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI("http://" + addr + uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &fasthttp.Client{Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	h := new(fasthttp.ResponseHeader)
	resp.Header.CopyTo(h)
	status := resp.StatusCode()
	fasthttp.ReleaseResponse(resp)
	return status, h
}

const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
)

// TestTraceOfAResultsPage: a results page whose client sent a traceparent
// is one server span, child of the client's span in the client's trace,
// and four client spans, children of the server span, one per call, with
// their attributes; each backend received a traceparent of that trace
// whose parent id is its call's client span. The spans reach a real OTLP
// receiver when the gateway shuts down, which flushes them.
func TestTraceOfAResultsPage(t *testing.T) {
	gw, addr, fake, rcv := tracedGateway(t, 0.01, nil) // the client's sampled flag wins over 1 %
	status, _ := get(t, addr, "/v2/experiments/42/results",
		"Authorization", assemblytest.Authorization,
		"traceparent", "00-"+clientTrace+"-"+clientSpan+"-01",
		"tracestate", "vendor=abc")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	shutdown(t, gw)
	spans := rcv.Spans(clientTrace)
	var server *tracepb.Span
	var clients []*tracepb.Span
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			if server != nil {
				t.Fatalf("two server spans: %v and %v", server, s)
			}
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			clients = append(clients, s)
		}
	}
	if server == nil {
		t.Fatalf("no server span in trace %s; got %d spans, services %v", clientTrace, len(spans), rcv.Services())
	}
	if got := hex.EncodeToString(server.ParentSpanId); got != clientSpan {
		t.Errorf("server span's parent %s, want the client's span %s", got, clientSpan)
	}
	if server.TraceState != "vendor=abc" {
		t.Errorf("server span's tracestate %q, want the client's", server.TraceState)
	}
	for key, want := range map[string]string{
		"fanout.operation":          "getExperimentResults",
		"http.response.status_code": "200",
		"http.request.method":       "GET",
		"http.route":                "/v2/experiments/{experiment_id}/results",
		"fanout.token":              assemblytest.TokenName,
	} {
		if got := tracingtest.Attr(server.Attributes, key); got != want {
			t.Errorf("server span %s = %q, want %q", key, got, want)
		}
	}
	for _, s := range spans {
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), assemblytest.Token) {
				t.Errorf("span %s attribute %s holds the token's secret", s.Name, kv.Key)
			}
		}
	}
	if !slices.Contains(rcv.Services(), "fanout-gateway") {
		t.Errorf("services %v, want fanout-gateway", rcv.Services())
	}

	byCall := map[string]*tracepb.Span{}
	for _, c := range clients {
		if !slices.Equal(c.ParentSpanId, server.SpanId) {
			t.Errorf("client span %s: parent %x, want the server span %x", c.Name, c.ParentSpanId, server.SpanId)
		}
		byCall[tracingtest.Attr(c.Attributes, "fanout.call")] = c
	}
	backends := map[string]string{"experiment": "experiments", "layer": "layers", "settings": "projects", "results": "results"}
	if len(clients) != 4 || len(byCall) != 4 {
		t.Fatalf("%d client spans for calls %v, want one for each of %v", len(clients), slices.Collect(maps.Keys(byCall)), backends)
	}
	for call, service := range backends {
		c := byCall[call]
		if c == nil {
			t.Errorf("no client span for call %s", call)
			continue
		}
		if tracingtest.Attr(c.Attributes, "fanout.backend") != service || tracingtest.Attr(c.Attributes, "http.response.status_code") != "200" {
			t.Errorf("call %s: attributes %v", call, c.Attributes)
		}
		tps := fake.Traceparents(service)
		want := "00-" + clientTrace + "-" + hex.EncodeToString(c.SpanId) + "-01"
		if len(tps) != 1 || tps[0] != want {
			t.Errorf("backend %s received traceparent %q, want %q (its call's client span)", service, tps, want)
		}
	}
}

// trace returns a traceparent of a new sampled trace numbered n, and its
// trace id.
func trace(n int) (traceparent, tid string) {
	tid = fmt.Sprintf("%032x", 0xabc0+n)
	return "00-" + tid + "-" + clientSpan + "-01", tid
}

// callSpans returns the client spans of call in spans.
func callSpans(spans []*tracepb.Span, call string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && tracingtest.Attr(s.Attributes, "fanout.call") == call {
			out = append(out, s)
		}
	}
	return out
}

// TestTraceMarksHedgesAndRetries: once the results call's hedging delay
// is learned, a slow first attempt gets a duplicate whose span is marked
// a hedge, and the first attempt, the loser, ends cancelled; a first
// attempt answered 503 gets a retry whose span is marked a retry. Each
// attempt carries its own span id to the backend.
func TestTraceMarksHedgesAndRetries(t *testing.T) {
	gw, addr, fake, rcv := tracedGateway(t, 1, nil)
	// The document hedges results after its p95, learned from 100
	// latencies and read every 32: 160 pages teach it, and fill the
	// hedge and retry budgets. Three of them answer 20 ms late, fewer
	// than 5 %: the tail that keeps the learned delay from standing down,
	// as it does when no duplicate could ever answer first.
	for k := range 160 {
		if k%50 == 10 {
			fake.Set("results", backendtest.Behaviour{DelayOnce: 20 * time.Millisecond})
		}
		if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	// The slow request is the next one the backend reads. On a loaded
	// machine that can be a duplicate sent while the pages taught, cut
	// on the wire once its first attempt answered, but read by the
	// backend only now: the page is then fast and unhedged, and is asked
	// again. A page that waits out the second is a failure.
	var hedgedTrace string
	for attempt := 1; hedgedTrace == ""; attempt++ {
		fake.Set("results", backendtest.Behaviour{DelayOnce: time.Second})
		hedged, tid := trace(attempt)
		start := time.Now()
		status, h := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization, "traceparent", hedged)
		switch took := time.Since(start); {
		case status == 200 && strings.Contains(string(h.Peek("Server-Timing")), `desc="hedge"`):
			hedgedTrace = tid
		case status != 200 || took >= time.Second || attempt == 3:
			t.Fatalf("status %d after %v, Server-Timing %s: the duplicate did not win", status, took, h.Peek("Server-Timing"))
		}
	}
	shutdown(t, gw)

	spans := callSpans(rcv.Spans(hedgedTrace), "results")
	if len(spans) != 2 {
		t.Fatalf("%d spans of the hedged results call, want 2", len(spans))
	}
	first, dup := spans[0], spans[1]
	if tracingtest.Attr(first.Attributes, "fanout.attempt") == "hedge" {
		first, dup = dup, first
	}
	if tracingtest.Attr(dup.Attributes, "fanout.attempt") != "hedge" || tracingtest.Attr(dup.Attributes, "http.response.status_code") != "200" {
		t.Errorf("duplicate's attributes %v, want attempt hedge, status 200", dup.Attributes)
	}
	if tracingtest.Attr(first.Attributes, "fanout.cancelled") != "true" || tracingtest.Attr(first.Attributes, "error.type") != "cancelled" {
		t.Errorf("losing first attempt's attributes %v, want it cancelled", first.Attributes)
	}
	if slices.Equal(first.SpanId, dup.SpanId) {
		t.Errorf("both attempts have span id %x", first.SpanId)
	}

	// Without hedging, which would otherwise race the retry with a
	// duplicate of the slow first attempt.
	gw, addr, fake, rcv = tracedGateway(t, 1, func(c *config.Config) { c.HedgeBudget = 0 })
	for range 20 { // 10 % of the calls earn the retry budget a retry
		if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	fake.Set("results", backendtest.Behaviour{StatusOnce: 503})
	retried, retriedTrace := trace(10)
	if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization, "traceparent", retried); status != 200 {
		t.Fatalf("retried page: status %d", status)
	}
	shutdown(t, gw)
	spans = callSpans(rcv.Spans(retriedTrace), "results")
	var retry, failed *tracepb.Span
	for _, s := range spans {
		switch tracingtest.Attr(s.Attributes, "fanout.attempt") {
		case "retry":
			retry = s
		case "":
			failed = s
		}
	}
	if retry == nil || failed == nil {
		t.Fatalf("spans of the retried results call: %v", spans)
	}
	if tracingtest.Attr(failed.Attributes, "http.response.status_code") != "503" || failed.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("failed first attempt: %v, status %v", failed.Attributes, failed.Status)
	}
	if tracingtest.Attr(retry.Attributes, "http.response.status_code") != "200" {
		t.Errorf("retry: %v", retry.Attributes)
	}
	// The backend saw each attempt under its own span.
	var parents []string
	for _, tp := range fake.Traceparents("results") {
		if strings.Contains(tp, retriedTrace) {
			parents = append(parents, tp[36:52])
		}
	}
	want := []string{hex.EncodeToString(failed.SpanId), hex.EncodeToString(retry.SpanId)}
	if !slices.Equal(parents, want) {
		t.Errorf("results backend saw parent ids %v, want the attempts' spans %v", parents, want)
	}
}

// TestTraceSaysWhyARequestWasRefused: a request without a token and one
// past its token's rate limit have server spans that say why they were
// refused, with the status; the refused token's secret is in neither.
func TestTraceSaysWhyARequestWasRefused(t *testing.T) {
	const secret = "slow-secret-0123456789"
	gw, addr, _, rcv := tracedGateway(t, 1, func(c *config.Config) {
		c.Tokens = assemblytest.TokensFile(t, assemblytest.TokenEntry("slow", secret, "all", "read", "{limit: 1, per: 1m}"))
	})
	anonymous, anonymousTrace := trace(3)
	if status, _ := get(t, addr, "/v2/experiments/42/results", "traceparent", anonymous); status != 401 {
		t.Fatalf("without a token: status %d", status)
	}
	if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", "Bearer "+secret); status != 200 {
		t.Fatalf("first request: status %d", status)
	}
	limited, limitedTrace := trace(4)
	if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", "Bearer "+secret, "traceparent", limited); status != 429 {
		t.Fatalf("past the rate limit: status %d", status)
	}
	shutdown(t, gw)
	for _, tc := range []struct {
		tid, status, refused string
	}{
		{anonymousTrace, "401", "unauthorized"},
		{limitedTrace, "429", "rate-limited"},
	} {
		spans := rcv.Spans(tc.tid)
		if len(spans) != 1 || spans[0].Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("trace %s: %d spans, want one server span and no call", tc.tid, len(spans))
			continue
		}
		s := spans[0]
		if tracingtest.Attr(s.Attributes, "fanout.refused") != tc.refused || tracingtest.Attr(s.Attributes, "http.response.status_code") != tc.status {
			t.Errorf("refused %s: attributes %v", tc.refused, s.Attributes)
		}
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), secret) {
				t.Errorf("span attribute %s holds the token's secret", kv.Key)
			}
		}
	}
}

// TestUnrecordedTraceStillPropagates: with no trace recorded (sample 0),
// a request that starts its own trace exports no span, yet each backend
// call carries a traceparent of one trace for the whole request, not
// sampled, each call with a parent id of its own.
func TestUnrecordedTraceStillPropagates(t *testing.T) {
	gw, addr, fake, rcv := tracedGateway(t, 0, nil)
	if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 {
		t.Fatalf("status %d", status)
	}
	shutdown(t, gw)
	exported := len(rcv.Spans(""))
	if exported != 0 {
		t.Errorf("%d spans exported at sample 0", exported)
	}
	traces, parents := map[string]bool{}, map[string]bool{}
	for _, service := range backendtest.Services {
		tps := fake.Traceparents(service)
		if len(tps) != 1 {
			t.Fatalf("%s received traceparents %q, want one", service, tps)
		}
		tp := tps[0]
		if len(tp) != 55 || !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-00") {
			t.Errorf("%s received %q, want a version 00 traceparent, not sampled", service, tp)
			continue
		}
		traces[tp[3:35]], parents[tp[36:52]] = true, true
	}
	if len(traces) != 1 || len(parents) != len(backendtest.Services) {
		t.Errorf("%d trace ids and %d parent ids over %d calls, want one trace and a parent id per call", len(traces), len(parents), len(backendtest.Services))
	}
}

// TestTracingFromTheEnvironment: without -otlp-endpoint, the SDK's
// OTEL_EXPORTER_OTLP_ENDPOINT switches tracing on and OTEL_TRACES_SAMPLER
// picks the traces recorded; a -trace-sample given wins over the sampler
// variable, and an -otlp-endpoint given over the endpoint variable.
func TestTracingFromTheEnvironment(t *testing.T) {
	elsewhere := tracingtest.New(t)
	for _, tc := range []struct {
		name     string
		sampler  string // OTEL_TRACES_SAMPLER
		flagged  bool   // -trace-sample 1 and -otlp-endpoint given
		recorded bool
	}{
		{"env sampler always_on", "always_on", false, true},
		{"env sampler always_off", "always_off", false, false},
		{"flags win over always_off", "always_off", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := tracingtest.New(t)
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			if tc.flagged {
				// The variable names another collector, which must get nothing.
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", elsewhere.URL)
			} else {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
			}
			gw, addr, fake, _ := tracedGateway(t, 1, func(c *config.Config) {
				if !tc.flagged {
					c.OTLPEndpoint, c.TraceSample = "", config.OptionalRatio{}
				} else {
					c.OTLPEndpoint = rcv.URL
				}
			})
			// No traceparent: the gateway starts the trace and its
			// sampler decides; the backends learn the trace id.
			if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 {
				t.Fatalf("status %d", status)
			}
			shutdown(t, gw)
			tps := fake.Traceparents("experiments")
			if len(tps) != 1 || len(tps[0]) != 55 {
				t.Fatalf("experiments received traceparents %q", tps)
			}
			tid := tps[0][3:35]
			if got := len(rcv.Spans(tid)) > 0; got != tc.recorded {
				t.Errorf("spans received: %v, want %v", got, tc.recorded)
			}
			if n := len(elsewhere.Spans(tid)); n > 0 {
				t.Errorf("the collector of the variable got %d spans, though -otlp-endpoint names another", n)
			}
		})
	}
}

// TestTraceMarksCoalescedCalls: of two pages asked at once for the same
// experiment, whose call the document coalesces, one sends the call and
// the other shares its answer: the sharer's trace has a span for the call
// marked coalesced, and its backend saw one call only, the leader's.
func TestTraceMarksCoalescedCalls(t *testing.T) {
	gw, addr, fake, rcv := tracedGateway(t, 1, nil)
	fake.Set("experiments", backendtest.Behaviour{Delay: 300 * time.Millisecond})
	var wg sync.WaitGroup
	tids := make([]string, 2)
	for i := range tids {
		tp, tid := trace(10 + i)
		tids[i] = tid
		wg.Go(func() {
			if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization, "traceparent", tp); status != 200 {
				t.Errorf("page %d: status %d", i, status)
			}
		})
	}
	wg.Wait()
	shutdown(t, gw)
	if n := fake.Calls("experiments"); n != 1 {
		t.Fatalf("experiments called %d times for two pages at once, want 1 (coalesced)", n)
	}
	var vias []string
	for _, tid := range tids {
		spans := callSpans(rcv.Spans(tid), "experiment")
		if len(spans) != 1 {
			t.Fatalf("trace %s: %d experiment spans, want 1", tid, len(spans))
		}
		vias = append(vias, tracingtest.Attr(spans[0].Attributes, "fanout.via"))
	}
	slices.Sort(vias)
	if !slices.Equal(vias, []string{"", "coalesced"}) {
		t.Errorf("the experiment spans' fanout.via: %q, want the leader's call and one coalesced", vias)
	}
}

// TestShutdownFlushesAfterTheGrace: a shutdown whose grace period is over
// (its context done) still exports the spans the gateway holds.
func TestShutdownFlushesAfterTheGrace(t *testing.T) {
	gw, addr, _, rcv := tracedGateway(t, 1, nil)
	tp, tid := trace(20)
	if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization, "traceparent", tp); status != 200 {
		t.Fatalf("status %d", status)
	}
	shutdowns.Store(gw, true) // this test shuts it down itself
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = gw.Shutdown(ctx)
	if n := len(rcv.Spans(tid)); n != 5 {
		t.Errorf("%d spans exported by a shutdown past its grace, want the page's 5", n)
	}
}
