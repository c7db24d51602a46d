package server_test

import (
	"sync"
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"
	"fanout/mockbackends/mock"
)

// TestRedisReplicas: two gateways sharing one redis-server hold one
// token's limit between them, replay on one an Idempotency-Key used on the
// other. (TestRedisOutage is what they do while Redis is gone.)
func TestRedisReplicas(t *testing.T) {
	rs := redistest.Start(t)
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	const limit = 20
	tokens := assemblytest.TokensFile(t, assemblytest.TestEntry,
		assemblytest.TokenEntry("limited", limitedSecret, "all", "read", "{limit: 20, per: 1h}"))
	withRedis := func(cfg *config.Config) { cfg.Redis = rs.URL() }
	a, b := serveHTTP(t, c, tokens, withRedis), serveHTTP(t, c, tokens, withRedis)

	t.Run("one limit", func(t *testing.T) {
		// Six clients at once, each alternating between the replicas:
		// the limit holds only if each check-and-take is atomic.
		const clients, each = 6, limit / 2
		var mu sync.Mutex
		ok := 0
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				for j := range each {
					g := a
					if (i+j)%2 == 1 {
						g = b
					}
					r := g.call(t, "GET", "/v2/experiments/42", limitedSecret, "", nil)
					switch r.status {
					case 200:
						mu.Lock()
						ok++
						mu.Unlock()
					case 429:
					default:
						t.Errorf("status %d: %s", r.status, r.body)
					}
				}
			})
		}
		wg.Wait()
		// One request of 20 per hour frees every 3 minutes: the test
		// ends long before, so the burst is all that may pass.
		if lo, hi := limit*95/100, limit*105/100; ok < lo || ok > hi {
			t.Errorf("%d of %d requests allowed by two replicas, want %d (within 5%%: %d..%d)", ok, clients*each, limit, lo, hi)
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
}
