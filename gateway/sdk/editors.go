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
