package sdk

import (
	"context"
	"net/http"
)

// WithBearerToken returns a ClientOption that sends token in an
// Authorization: Bearer header on every request, as every /v2 operation
// requires.
func WithBearerToken(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// IdempotencyKey returns a RequestEditorFn that sends key in an
// Idempotency-Key header, for one POST /v2/experiments: the gateway
// answers a retry with the same key and body with the first answer
// (Idempotent-Replayed: true) instead of creating a second experiment. A
// key is 1 to 255 printable ASCII characters, one per intended create.
func IdempotencyKey(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Idempotency-Key", key)
		return nil
	}
}
