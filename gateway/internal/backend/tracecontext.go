package backend

import (
	"context"
	"encoding/hex"
	"math/rand/v2"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
)

// Headers of the W3C Trace Context (https://www.w3.org/TR/trace-context/),
// which the gateway sends on every backend call of a traced request, so
// that a trace goes on into the backends.
const (
	TraceparentHeader = "traceparent"
	TracestateHeader  = "tracestate"
)

// traceContext is the trace a request's calls belong to.
type traceContext struct {
	on      bool
	traceID trace.TraceID
	flags   trace.TraceFlags
	state   []byte
}

// SetTrace makes every call of the Exchange send the W3C trace context of
// the trace sc belongs to: its trace id, flags and state, and a span id of
// the call's own. A call whose context carries a span of that trace (a
// client span the gateway records) sends that span's id; any other call
// gets a fresh random id, as a span the gateway does not record still
// needs its own id for the backend's spans to hang from. Call it before
// the calls start; without it, no call sends a trace context.
func (e *Exchange) SetTrace(sc trace.SpanContext) {
	e.trace.on = sc.TraceID().IsValid()
	e.trace.traceID, e.trace.flags = sc.TraceID(), sc.TraceFlags()
	e.trace.state = e.trace.state[:0]
	if ts := sc.TraceState(); ts.Len() > 0 {
		e.trace.state = append(e.trace.state, ts.String()...)
	}
}

// traceparentLen is the length of a version 00 traceparent:
// 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>.
const traceparentLen = 55

// setTraceHeaders writes the call's traceparent and tracestate headers.
// It costs no allocation: the header is formatted on the stack.
func (e *Exchange) setTraceHeaders(ctx context.Context, req *fasthttp.Request) {
	tid, flags := e.trace.traceID, e.trace.flags
	var sid trace.SpanID
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.TraceID() == tid {
		sid, flags = sc.SpanID(), sc.TraceFlags()
	} else {
		for !sid.IsValid() {
			v := rand.Uint64()
			for i := range sid {
				sid[i] = byte(v >> (8 * i))
			}
		}
	}
	var buf [traceparentLen]byte
	b := append(buf[:0], "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	const digits = "0123456789abcdef"
	b = append(b, '-', digits[flags>>4], digits[flags&0xf])
	req.Header.SetBytesV(TraceparentHeader, b)
	if len(e.trace.state) > 0 {
		req.Header.SetBytesV(TracestateHeader, e.trace.state)
	}
}
