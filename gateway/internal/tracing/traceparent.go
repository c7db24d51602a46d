package tracing

import "go.opentelemetry.io/otel/trace"

// ParseTraceparent reads a W3C traceparent header
// (version-traceid-parentid-flags, in lower-case hex) into a remote span
// context, without allocating. It refuses version ff, an all-zero trace or
// parent id, upper-case hex and a version 00 header of any other length;
// a later version may carry more fields after the flags, which are
// ignored, as the spec asks.
func ParseTraceparent(h []byte) (trace.SpanContext, bool) {
	const n = 55 // version 00's length
	if len(h) < n || (len(h) > n && h[n] != '-') || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return trace.SpanContext{}, false
	}
	var ver, flags [1]byte
	var tid trace.TraceID
	var sid trace.SpanID
	if !unhex(ver[:], h[0:2]) || ver[0] == 0xff || (ver[0] == 0 && len(h) != n) ||
		!unhex(tid[:], h[3:35]) || !unhex(sid[:], h[36:52]) || !unhex(flags[:], h[53:55]) {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled,
		Remote:     true,
	})
	return sc, sc.IsValid()
}

// unhex decodes lower-case hex src into dst, which is half its length.
func unhex(dst, src []byte) bool {
	for i := range dst {
		hi, ok1 := nibble(src[2*i])
		lo, ok2 := nibble(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
