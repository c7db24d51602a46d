package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"
	"fanout/mockbackends/mock"

	"github.com/redis/go-redis/v9"
)

// TestRedisReplicas: two gateways sharing one redis-server hold one
// token's limit between them, replay on one an Idempotency-Key used on the
// other. (TestRedisOutage is what they do while Redis is gone.)
func TestRedisReplicas(t *testing.T) {
	rs := redistest.Start(t)
	const limit = 20
	c, tokens := mocksWithTokens(t, limitedEntry(limit))
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

// TestRedisOperationsPerRequest counts, in Redis's own INFO commandstats,
// the round trips to Redis that a request costs, which deploy/README.md's
// capacity page multiplies by the rate: one script (the rate limit) for
// any authenticated request, two more (claim, record) for a create with a
// new Idempotency-Key, one more (the claim that finds the record) for its
// replay.
func TestRedisOperationsPerRequest(t *testing.T) {
	rs := redistest.Start(t)
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	g := startGateway(t, gatewayOptions{backends: c.Addrs(), redis: rs.URL()})
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	// Each script's first run on a server loads it (EVALSHA, then EVAL):
	// once per script and server, not per request.
	g.get(t, "/v2/experiments/42")
	createdID(t, keyedCreate(t, g, "warm", `{"project_id":"3","name":"warm"}`))

	cases := []struct {
		name    string
		request func(i int)
		want    int // round trips per request
	}{
		{"GET", func(int) { g.get(t, "/v2/experiments/42/results") }, 1},
		{"create with a new key", func(i int) {
			createdID(t, keyedCreate(t, g, fmt.Sprintf("ops-%d", i), `{"project_id":"3","name":"ops"}`))
		}, 3},
		{"replay", func(int) { createdID(t, keyedCreate(t, g, "warm", `{"project_id":"3","name":"warm"}`)) }, 2},
	}
	const n = 20
	for _, tc := range cases {
		if err := rc.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			tc.request(i)
		}
		info, err := rc.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		stats := commandCalls(info)
		trips := stats["evalsha"] + stats["eval"]
		if trips != tc.want*n || stats["eval"] != 0 {
			t.Errorf("%s: %d round trips (%d EVAL) for %d requests, want %d each; commandstats %v", tc.name, trips, stats["eval"], n, tc.want, stats)
		}
		t.Logf("%s: %d requests, Redis commands %v", tc.name, n, stats)
	}
}

// commandCalls reads the calls of each command from INFO commandstats.
func commandCalls(info string) map[string]int {
	calls := map[string]int{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		calls[name] = n
	}
	return calls
}
