package server

import (
	"testing"

	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/spec"
	"fanout/gateway/internal/store"

	"github.com/valyala/fasthttp"
)

// authServer is a Server with just what authenticate needs: one token of
// every project, with no practical limit, in a memory store.
func authServer(t testing.TB) (*Server, *operation) {
	t.Helper()
	set, err := auth.Parse([]byte("tokens:\n  - name: t\n    sha256: " + auth.Hash("secret") +
		"\n    projects: all\n    access: read\n    rate: {limit: 1000000000, per: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{authOn: true, store: m}
	s.tokens.Store(set)
	return s, &operation{doc: &spec.Operation{Method: fasthttp.MethodGet}}
}

// TestAuthenticateAllocations guards the cost of authentication on every
// /v2 request: one SHA-256, a map lookup and the limiter, and the
// RateLimit headers, without allocating.
func TestAuthenticateAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked without -short and -race")
	}
	s, o := authServer(t)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Authorization", "Bearer secret")
	if s.authenticate(&ctx, o) == nil {
		t.Fatalf("not authenticated: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if n := testing.AllocsPerRun(100, func() { s.authenticate(&ctx, o) }); n > 0 {
		t.Errorf("authenticate: %v allocations, want none", n)
	}
}

// BenchmarkAuthenticate is the cost authentication and the rate limit add
// to a request.
func BenchmarkAuthenticate(b *testing.B) {
	s, o := authServer(b)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.Set("Authorization", "Bearer secret")
	b.ReportAllocs()
	for b.Loop() {
		if s.authenticate(&ctx, o) == nil {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// BenchmarkResultsWithToken is a whole results request through the
// handler without authentication and with a token, for the cost of the
// checks beside that of the page.
func BenchmarkResultsWithToken(b *testing.B) {
	for _, withToken := range []bool{false, true} {
		name := "open"
		if withToken {
			name = "token"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := benchServer(b)
			if withToken {
				a, _ := authServer(b)
				s.tokens.Store(a.tokens.Load())
				s.authOn = true
			}
			benchHandler(b, s, "Bearer secret")
		})
	}
}
