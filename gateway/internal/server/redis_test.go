package server_test

import (
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"
	"fanout/mockbackends/mock"
)

// TestRedisReplicas: two gateways sharing one redis-server hold one
// token's limit between them, replay on one an Idempotency-Key used on the
// other, and answer 503 once Redis is gone, never unchecked.
func TestRedisReplicas(t *testing.T) {
	rs := redistest.Start(t)
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	const limit = 20
	tokens := assemblytest.TokensFile(t, assemblytest.TestEntry,
		assemblytest.TokenEntry("limited", limitedSecret, "all", "read", "{limit: 20, per: 1h}"))
	withRedis := func(cfg *config.Config) { cfg.Redis = rs.URL() }
	a, b := serveHTTP(t, c, tokens, withRedis), serveHTTP(t, c, tokens, withRedis)

	t.Run("one limit", func(t *testing.T) {
		ok := 0
		for i := range 3 * limit {
			g := a
			if i%2 == 1 {
				g = b
			}
			switch r := g.call(t, "GET", "/v2/experiments/42", limitedSecret, "", nil); r.status {
			case 200:
				ok++
			case 429:
			default:
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
		}
		// One request of 20 per hour frees every 3 minutes: the test
		// ends long before, so the burst is all that may pass.
		if lo, hi := limit*95/100, limit*105/100; ok < lo || ok > hi {
			t.Errorf("%d requests allowed by two replicas, want %d (within 5%%: %d..%d)", ok, limit, lo, hi)
		}
	})
	t.Run("Idempotency-Key across replicas", func(t *testing.T) {
		const body = `{"project_id":"3","name":"shared"}`
		h := map[string]string{server.IdempotencyKeyHeader: "replicas-1"}
		first := a.call(t, "POST", "/v2/experiments", assemblytest.Token, body, h)
		id := createdID(t, first)
		again := b.call(t, "POST", "/v2/experiments", assemblytest.Token, body, h)
		if createdID(t, again) != id || again.header.Get(server.ReplayedHeader) != "true" {
			t.Errorf("on the other replica: %s %q, want the replay of %s", again.body, again.header.Get(server.ReplayedHeader), first.body)
		}
	})
	t.Run("503 without redis", func(t *testing.T) {
		rs.Stop()
		for _, g := range []*httpGateway{a, b} {
			r := g.call(t, "GET", "/v2/experiments/42", assemblytest.Token, "", nil)
			if p := checkProblem(t, r, 503); p.Type != problem.TypeStoreUnavailable {
				t.Errorf("type %q", p.Type)
			}
		}
	})
}
