package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the gateway's spans: OpenTelemetry's semantic
// conventions where they have one, fanout.* for what is Fanout's own.
const (
	AttrMethod      = "http.request.method"
	AttrRoute       = "http.route"
	AttrStatus      = "http.response.status_code"
	AttrErrorType   = "error.type"
	AttrURLPath     = "url.path"
	AttrOperation   = "fanout.operation"
	AttrRequestID   = "fanout.request_id"
	AttrToken       = "fanout.token"
	AttrRefused     = "fanout.refused"
	AttrProblem     = "fanout.problem"
	AttrFailedCalls = "fanout.failed_calls"
	AttrCall        = "fanout.call"
	AttrBackend     = "fanout.backend"
	AttrAttempt     = "fanout.attempt"
	AttrVia         = "fanout.via"
	AttrCancelled   = "fanout.cancelled"
)

// Request is the trace of one public request: its server span, child of
// the client's span when the client sent a valid traceparent. Its methods
// on nil do nothing. The span is ended once, by End; the client spans of
// the request's calls are its children.
type Request struct {
	t    *Tracer
	span trace.Span
	sc   trace.SpanContext
}

// Start begins the server span of a request to operation (its
// operationId) at route (the document's path template) with method, from
// the client's traceparent and tracestate headers, if valid: a request
// that carries none, or a malformed one, starts a trace of its own. Call it
// as the request arrives: the span starts then. A nil Tracer returns nil.
func (t *Tracer) Start(operation, method, route string, traceparent, tracestate []byte) *Request {
	if t == nil {
		return nil
	}
	ctx := context.Background()
	if sc, ok := ParseTraceparent(traceparent); ok {
		if len(tracestate) > 0 {
			// A malformed tracestate is dropped, as the W3C spec asks,
			// and the traceparent kept.
			if ts, err := trace.ParseTraceState(string(tracestate)); err == nil {
				sc = sc.WithTraceState(ts)
			}
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	_, span := t.tracer.Start(ctx, operation, serverSpan...)
	r := &Request{t: t, span: span, sc: span.SpanContext()}
	if span.IsRecording() {
		span.SetAttributes(attribute.String(AttrOperation, operation), attribute.String(AttrMethod, method),
			attribute.String(AttrRoute, route))
	}
	return r
}

// serverSpan are the options of a server span, made once: a request
// whose span is not recorded should cost as little as it can.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// SpanContext returns the server span's context: its trace id is the
// request's, whether the span is recorded or not.
func (r *Request) SpanContext() trace.SpanContext {
	if r == nil {
		return trace.SpanContext{}
	}
	return r.sc
}

// Recording reports whether the request's spans are recorded (sampled):
// an unrecorded request makes no client spans, yet its calls still carry
// its trace context.
func (r *Request) Recording() bool { return r != nil && r.span.IsRecording() }

// Context returns ctx carrying the server span, the parent of the spans
// started from it.
func (r *Request) Context(ctx context.Context) context.Context {
	if r == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, r.span)
}

// Answer is what the gateway answered a request, for its server span.
type Answer struct {
	Status    int
	RequestID string
	// Token is the name of the request's token, never its secret; "" if
	// none was checked.
	Token string
	// Problem is the short type of the problem answered ("rate-limited"),
	// "" for an answer that is not a problem.
	Problem string
	// Refused is why the request was refused before any work, the
	// problem's short type ("unauthorized", "rate-limited", "overloaded"),
	// "" if it was not.
	Refused string
	// FailedCalls names the backend calls that failed the request or left
	// its page partial.
	FailedCalls []string
}

// End ends the server span with the answer. A 5xx is an error of the
// span; a 4xx (and the 499 of a client gone) is the client's, as the
// semantic conventions of a server span say, and a refusal says why.
func (r *Request) End(a Answer) {
	if r == nil {
		return
	}
	if r.span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 7)
		attrs = append(attrs, attribute.Int(AttrStatus, a.Status))
		if a.RequestID != "" {
			attrs = append(attrs, attribute.String(AttrRequestID, a.RequestID))
		}
		if a.Token != "" {
			attrs = append(attrs, attribute.String(AttrToken, a.Token))
		}
		if a.Problem != "" {
			attrs = append(attrs, attribute.String(AttrProblem, a.Problem))
		}
		if a.Refused != "" {
			attrs = append(attrs, attribute.String(AttrRefused, a.Refused))
		}
		if len(a.FailedCalls) > 0 {
			attrs = append(attrs, attribute.StringSlice(AttrFailedCalls, a.FailedCalls))
		}
		if a.Status >= 500 {
			attrs = append(attrs, attribute.String(AttrErrorType, errorType(a)))
			r.span.SetStatus(codes.Error, errorType(a))
		}
		r.span.SetAttributes(attrs...)
	}
	r.span.End()
}

// errorType is the error.type of a failed answer: its problem's type, or
// its status.
func errorType(a Answer) string {
	if a.Problem != "" {
		return a.Problem
	}
	return "status"
}

// Call is a backend call, for its client span.
type Call struct {
	Name    string // the call's name in the plan ("experiment")
	Backend string
	Method  string
	Path    string
	// Attempt is "" for the call's own attempt, "hedge" for a hedged
	// duplicate, "retry" for a retry.
	Attempt string
	// Via is how a call answered without an attempt of its own:
	// "coalesced" (another request's call), "cache", "circuit_open"; ""
	// for an attempt.
	Via string
	// Start is when the call started; zero: now.
	Start time.Time
}

// StartCall begins the client span of call c, child of the request's
// server span, and returns ctx carrying it: the backend client sends that
// span's id in the call's traceparent. A request that is not recorded
// returns ctx and a nil span.
func (r *Request) StartCall(ctx context.Context, c Call) (context.Context, *CallSpan) {
	if !r.Recording() {
		return ctx, nil
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	if !c.Start.IsZero() {
		opts = append(opts, trace.WithTimestamp(c.Start))
	}
	ctx, span := r.t.tracer.Start(trace.ContextWithSpan(ctx, r.span), c.Name, opts...)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, attribute.String(AttrCall, c.Name), attribute.String(AttrBackend, c.Backend),
		attribute.String(AttrMethod, c.Method), attribute.String(AttrURLPath, c.Path))
	if c.Attempt != "" {
		attrs = append(attrs, attribute.String(AttrAttempt, c.Attempt))
	}
	if c.Via != "" {
		attrs = append(attrs, attribute.String(AttrVia, c.Via))
	}
	span.SetAttributes(attrs...)
	return ctx, &CallSpan{span: span}
}

// CallSpan is the client span of one attempt of a backend call.
type CallSpan struct{ span trace.Span }

// SpanContext returns the span's context; empty for nil.
func (s *CallSpan) SpanContext() trace.SpanContext {
	if s == nil {
		return trace.SpanContext{}
	}
	return s.span.SpanContext()
}

// End ends the span with the call's status (0 if it got no answer) and
// the kind of its failure ("" if it answered): a failure is an error of
// the span, but for "cancelled", the end of an attempt nobody waited for
// any more (a hedged call's loser, a call the request gave up), which is
// marked as such. Nil does nothing.
func (s *CallSpan) End(status int, failure string) {
	if s == nil {
		return
	}
	if status > 0 {
		s.span.SetAttributes(attribute.Int(AttrStatus, status))
	}
	switch {
	case failure == "cancelled":
		s.span.SetAttributes(attribute.Bool(AttrCancelled, true), attribute.String(AttrErrorType, failure))
	case failure != "":
		s.span.SetAttributes(attribute.String(AttrErrorType, failure))
		s.span.SetStatus(codes.Error, failure)
	case status >= 400:
		s.span.SetStatus(codes.Error, "bad status")
	}
	s.span.End()
}
