package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/store"

	"github.com/valyala/fasthttp"
)

// Idempotent creates, as Stripe does them and as the IETF draft
// "The Idempotency-Key HTTP Header Field" describes them.
//
// A create that carries Idempotency-Key is performed at most once per token
// and key. Its record in the store is keyed by the SHA-256 of the token's
// name, length-prefixed, and the key (namespacedKey), so that two tokens
// never share a key, and holds the SHA-256 of the body. The first attempt
// claims the key (a claim that lasts twice the request deadline, so that a
// gateway that dies mid-request frees it);
// a repeat with the same body while the claim holds gets 409, one with
// another body 422. Once the backend has answered, the response (status,
// Content-Type, Location, body) is the record, kept IdempotencyTTL, and
// every repeat gets it again with Idempotent-Replayed: true.
//
// A refusal (4xx) is recorded and replayed too, as the document says;
// since one costs a client nothing to provoke, each token holds at most
// its quota of records (429 beyond it), and the in-memory store is bounded
// in bytes. A create whose outcome the gateway does not know (the backend
// timed out or failed after the request was sent: any 5xx answer) is not
// recorded: the claim is released and a retry runs again. That retry is
// safe because
// the gateway sends the same namespaced key to the experiments service in
// Idempotency-Key, and the service creates at most one experiment per key:
// the retry gets the experiment the first attempt created, not a second
// one. The gateway alone could not know whether the lost attempt created
// anything; the service that creates can.
const (
	// IdempotencyKeyHeader is the request header of an idempotent create.
	IdempotencyKeyHeader = backend.IdempotencyKeyHeader
	// ReplayedHeader marks a replayed response.
	ReplayedHeader = "Idempotent-Replayed"
	// IdempotencyTTL is how long a record is kept.
	IdempotencyTTL = 24 * time.Hour
	// maxIdempotencyKey is the longest key, in bytes.
	maxIdempotencyKey = 255
)

// replayedHeaders are the response headers a record keeps, besides the
// status and body; the others (X-Request-Id, Server-Timing, the rate
// limits) belong to each request.
var replayedHeaders = []string{"Content-Type", "Location"}

// idempotentCreate is create under an Idempotency-Key, when the request
// carries one.
func (s *Server) idempotentCreate(r *request) {
	ctx := r.ctx
	key := ctx.Request.Header.Peek(IdempotencyKeyHeader)
	if key == nil {
		s.create(r, nil)
		return
	}
	if reason := checkIdempotencyKey(key); reason != "" {
		p := problem.New(problem.TypeInvalidRequest, fasthttp.StatusBadRequest, "invalid request: header "+IdempotencyKeyHeader+": "+reason)
		p.InvalidParams = []problem.InvalidParam{{Name: IdempotencyKeyHeader, In: "header", Reason: reason}}
		problem.Write(ctx, p)
		return
	}
	name, t := "", requestToken(ctx)
	if t != nil {
		name = t.Name
	}
	ns := namespacedKey(name, key)
	sum := sha256.Sum256(ctx.PostBody())
	bg := context.Background()
	begun, rec, err := s.store.Begin(bg, name, ns, sum, 2*s.deadline)
	switch {
	case err != nil && s.idempotencyFailOpen:
		// Performed without a record: a repeat runs again, and the
		// backend's own check of the key (above) keeps it from creating
		// twice; nothing is replayed.
		s.storeFailedOpen(ctx, s.storeLogs.claim, metrics.CheckIdempotency, err)
		s.create(r, []byte(ns))
		return
	case err != nil:
		s.storeUnavailable(ctx, s.storeLogs.claim, err, detailClaimFailed)
		return
	}
	switch begun {
	case store.Mismatch:
		problem.Write(ctx, problem.New(problem.TypeIdempotencyMismatch, fasthttp.StatusUnprocessableEntity,
			"this Idempotency-Key was used with another body; use a new key for a new request"))
		return
	case store.OverQuota:
		s.metrics.Error(metrics.KindInvalidRequest)
		problem.Write(ctx, problem.New(problem.TypeIdempotencyQuota, fasthttp.StatusTooManyRequests,
			"the token holds its quota of Idempotency-Key records, which lapse after 24 hours; create without a key, or later"))
		return
	case store.InProgress:
		ctx.Response.Header.Set("Retry-After", "1")
		problem.Write(ctx, problem.New(problem.TypeIdempotencyInProgress, fasthttp.StatusConflict,
			"a request with this Idempotency-Key is still running; retry once it has ended"))
		return
	case store.Done:
		if rec.Status < 300 && !sees(t, rec.Body) {
			// The record was made while the token saw the project, or by
			// a gateway that namespaced keys otherwise: it is not the
			// caller's any more, and shows as a project it does not see.
			s.hideProject(ctx)
			return
		}
		for k, v := range rec.Headers {
			ctx.Response.Header.Set(k, v)
		}
		ctx.Response.Header.Set(ReplayedHeader, "true")
		ctx.SetStatusCode(rec.Status)
		ctx.SetBody(rec.Body)
		return
	}
	s.create(r, []byte(ns))
	status := ctx.Response.StatusCode()
	if status >= 500 {
		// The outcome is unknown: the backend's own key check makes the
		// retry safe (see above).
		if err := s.store.Abandon(bg, ns); err != nil {
			s.metrics.StoreError()
			s.logStore(ctx, s.storeLogs.release, slog.LevelWarn, "idempotency claim not released; it lapses by itself", err)
		}
		return
	}
	record := store.Record{Status: status, Body: append([]byte(nil), ctx.Response.Body()...), Headers: map[string]string{}}
	for _, h := range replayedHeaders {
		if v := ctx.Response.Header.Peek(h); len(v) > 0 {
			record.Headers[h] = string(v)
		}
	}
	if err := s.store.Finish(bg, name, ns, sum, record, IdempotencyTTL); err != nil {
		// The create is done and answered; only its replay is lost, and
		// a retry is still safe through the backend's key.
		s.logStore(ctx, s.storeLogs.record, slog.LevelError, "idempotency record not stored", err)
		s.metrics.StoreError()
	}
}

// checkIdempotencyKey returns why a key is not 1 to 255 printable ASCII
// characters, or "".
func checkIdempotencyKey(key []byte) string {
	if len(key) == 0 || len(key) > maxIdempotencyKey {
		return fmt.Sprintf("%d bytes, want 1 to %d", len(key), maxIdempotencyKey)
	}
	for _, c := range key {
		if c < 0x20 || c > 0x7e {
			return "want printable ASCII characters only"
		}
	}
	return ""
}

// namespacedKey is the key of a token's Idempotency-Key, in the store and
// to the backend: hex(sha256(len(name) + name + key)), the length an
// 8-byte big-endian integer. The length prefix makes the encoding
// injective: a separator would not, since a name may contain it (token
// "a" with key "b:c" and token "a:b" with key "c" would share a record).
func namespacedKey(name string, key []byte) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))
}
