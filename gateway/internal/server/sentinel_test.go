package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"

	"github.com/valyala/fasthttp"
)

// TestSentinelFailover: a gateway on a Redis watched by three
// redis-sentinel, under a bounded load of GETs and keyed creates, while
// its primary is killed (kill -9). During the failover the GETs are served
// (rate limits fail open) and the creates answered 201 or 503 safe to
// retry, and the store's errors are counted; once a sentinel has promoted
// the replica, the rate limit holds again (a fresh token's burst, then
// 429) and idempotency works again (a new key creates once, its repeat
// replays).
func TestSentinelFailover(t *testing.T) {
	rs := redistest.StartSentinels(t)
	const limit = 5
	c, tokens := mocksWithTokens(t, limitedEntry(limit))
	var logs backendtest.SyncBuffer
	g := startGateway(t, gatewayOptions{backends: c.Addrs(), redis: rs.URL(), tokens: tokens,
		logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	const body = `{"project_id":"3","name":"failover"}`
	if r := g.get(t, "/v2/experiments/42"); r.status != 200 || r.header.Get(server.RateLimitLimitHeader) == "" {
		t.Fatalf("before the failover: %d, RateLimit-Limit %q", r.status, r.header.Get(server.RateLimitLimitHeader))
	}
	id := createdID(t, keyedCreate(t, g, "before", body))

	// A bounded load: two clients, each a GET and a keyed create every
	// 10 ms, until the failover is over, 20 s at most.
	stop := make(chan struct{})
	var gets, creates, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if r := g.get(t, "/v2/experiments/42"); r.status != 200 {
					t.Errorf("GET during the failover: %d %s", r.status, r.body)
				}
				gets.Add(1)
				r := keyedCreate(t, g, fmt.Sprintf("load-%d-%d", i, j), body)
				switch r.status {
				case 201:
					creates.Add(1)
				case 503:
					if p := checkProblem(t, r, 503); p.Type != problem.TypeStoreUnavailable || r.header.Get("Retry-After") == "" {
						t.Errorf("create during the failover: %+v, Retry-After %q", p, r.header.Get("Retry-After"))
					}
					refused.Add(1)
				default:
					t.Errorf("create during the failover: %d %s", r.status, r.body)
				}
			}
		})
	}
	var once sync.Once
	stopLoad := func() { once.Do(func() { close(stop) }); wg.Wait() }
	defer stopLoad()
	poll.Until(t, 5*time.Second, "load before the kill", func() bool { return gets.Load() >= 20 })

	rs.Primary.Kill()
	killed := time.Now()
	poll.Until(t, 15*time.Second, "a sentinel to promote the replica", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		addr, err := rs.Master(ctx)
		return err == nil && addr == rs.Replica.Addr
	})
	poll.Until(t, 5*time.Second, "the gateway to check rate limits on the new primary", func() bool {
		r := g.get(t, "/v2/experiments/42")
		return r.status == 200 && r.header.Get(server.RateLimitLimitHeader) != ""
	})
	failover := time.Since(killed)
	stopLoad()
	t.Logf("failover in %s: %d GETs, %d creates, %d refused with 503; %v store errors, %v rate limits unchecked",
		failover.Round(time.Millisecond), gets.Load(), creates.Load(), refused.Load(),
		metric(t, g, "fanout_store_errors_total "), metric(t, g, `fanout_store_unchecked_total{check="rate_limit"} `))

	// The errors of the failover are counted.
	if metric(t, g, "fanout_store_errors_total ") == 0 || metric(t, g, `fanout_store_unchecked_total{check="rate_limit"} `) == 0 {
		t.Errorf("no store error counted across a failover of %s", failover)
	}
	// A fresh token's burst, then 429, from the new primary.
	allowed := 0
	for range limit + 3 {
		r := g.exchange(t, "GET", "/v2/experiments/42", func(req *fasthttp.Request) {
			req.Header.Set("Authorization", "Bearer "+limitedSecret)
		}, nil)
		switch r.status {
		case 200:
			allowed++
		case 429:
		default:
			t.Errorf("limited token after the failover: %d %s", r.status, r.body)
		}
	}
	if allowed != limit {
		t.Errorf("%d of %d requests allowed after the failover, want the burst of %d", allowed, limit+3, limit)
	}
	// A new key creates once; its repeat replays.
	first := keyedCreate(t, g, "after", body)
	again := keyedCreate(t, g, "after", body)
	if newID := createdID(t, first); newID == id || createdID(t, again) != newID || again.header.Get(server.ReplayedHeader) != "true" {
		t.Errorf("after the failover: %s then %s (replayed %q), want a new experiment then its replay", first.body, again.body, again.header.Get(server.ReplayedHeader))
	}
	lines, _ := storeLines(&logs)
	if most := 4 * (int(failover/time.Second) + 2); lines > most {
		t.Errorf("%d store log lines over a failover of %s, want at most %d (a line a second per cause)", lines, failover, most)
	}
}
