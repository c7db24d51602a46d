package server_test

import (
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/auth"

	"github.com/valyala/fasthttp"
)

// tokenSet parses a tokens file of the given entries.
func tokenSet(t *testing.T, entries ...string) *auth.Set {
	t.Helper()
	data := "tokens:\n"
	for _, e := range entries {
		data += e
	}
	set, err := auth.Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestSetTokens: a new token set applies to the next request: a token it
// adds gets in, one it drops is refused, and a token whose rate it raises
// gets the new rate at once, though its old one was spent for an hour.
func TestSetTokens(t *testing.T) {
	const secret = "rotated-secret"
	slow := assemblytest.TokenEntry("rotated", secret, "all", auth.AccessRead, "{limit: 1, per: 1h}")
	g, _ := withFake(t, gatewayOptions{tokens: assemblytest.TokensFile(t, slow)})
	get := func(secret string) int {
		t.Helper()
		return g.exchange(t, fasthttp.MethodGet, "/v2/experiments/42", func(req *fasthttp.Request) {
			req.Header.Set("Authorization", "Bearer "+secret)
		}, nil).status
	}
	if s := get(secret); s != fasthttp.StatusOK {
		t.Fatalf("first request: %d, want 200", s)
	}
	if s := get(secret); s != fasthttp.StatusTooManyRequests {
		t.Fatalf("second request at 1 per hour: %d, want 429", s)
	}
	if s := get(assemblytest.Token); s != fasthttp.StatusUnauthorized {
		t.Fatalf("a token the file lacks: %d, want 401", s)
	}

	fast := assemblytest.TokenEntry("rotated", secret, "all", auth.AccessRead, "{limit: 1000, per: 1s}")
	if err := g.srv.SetTokens(tokenSet(t, fast, assemblytest.TestEntry)); err != nil {
		t.Fatal(err)
	}
	if s := get(secret); s != fasthttp.StatusOK {
		t.Errorf("the token whose rate was raised: %d, want 200", s)
	}
	if s := get(assemblytest.Token); s != fasthttp.StatusOK {
		t.Errorf("the token added: %d, want 200", s)
	}

	if err := g.srv.SetTokens(tokenSet(t, assemblytest.TestEntry)); err != nil {
		t.Fatal(err)
	}
	if s := get(secret); s != fasthttp.StatusUnauthorized {
		t.Errorf("the token dropped: %d, want 401", s)
	}
	if err := g.srv.SetTokens(nil); err == nil {
		t.Error("SetTokens(nil): no error; reloading must not switch authentication off")
	}
}
