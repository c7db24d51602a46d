package transport

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"fanout/gateway/internal/backend"

	"github.com/valyala/fasthttp"
)

// maxRequestID is the longest X-Request-Id accepted from a client.
const maxRequestID = 64

// idPrefix makes the ids of this process unlike those of another replica
// or of a restart; idCounter numbers its requests. An id is the prefix and
// the counter in hex: unique per process, cheap (no randomness and no
// allocation per request), and not a secret.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// WithRequestID gives every response an X-Request-Id before h runs: the
// client's own if well formed, else a new one. The handlers read it back
// from the response header to log it and to pass it to the backends.
func WithRequestID(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		SetRequestID(ctx)
		h(ctx)
	}
}

// NosniffHeader is the header every response carries with the value
// nosniff, so that a browser never takes a JSON answer, whose bytes may
// come from a backend, for a script or a page (Fetch standard, "X-Content-
// Type-Options").
const NosniffHeader = "X-Content-Type-Options"

// nosniffKey and nosniffValue are the header as bytes, set on every
// response without fasthttp normalising the name again each time.
var nosniffKey, nosniffValue = []byte(NosniffHeader), []byte("nosniff")

// requestIDKey is the request id's header name as fasthttp writes it.
var requestIDKey = []byte(backend.RequestIDHeader)

// SetRequestID sets the response's X-Request-Id, and X-Content-Type-Options
// with it, as both go on every response.
func SetRequestID(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetCanonical(nosniffKey, nosniffValue)
	if id := ctx.Request.Header.Peek(backend.RequestIDHeader); validRequestID(id) {
		ctx.Response.Header.SetCanonical(requestIDKey, id)
		return
	}
	var buf [32]byte
	ctx.Response.Header.SetCanonical(requestIDKey, appendNewRequestID(buf[:0]))
}

// appendNewRequestID appends a new request id to b.
func appendNewRequestID(b []byte) []byte {
	b = append(b, idPrefix...)
	b = append(b, '-')
	return strconv.AppendUint(b, idCounter.Add(1), 16)
}

// validRequestID accepts 1 to 64 bytes of letters, digits, '.', '_' and
// '-': enough for UUIDs and tracing ids, and nothing that could split a
// header or a log line.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestID {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
