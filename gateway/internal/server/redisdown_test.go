package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"
	"fanout/mockbackends/mock"

	"github.com/valyala/fasthttp"
)

// storeLines returns the log lines (JSON) whose message starts with
// "store unavailable", and how many of them say how many they held back.
func storeLines(logs *backendtest.SyncBuffer) (lines, tallied int) {
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg      string `json:"msg"`
			HeldBack int64  `json:"held_back"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "store unavailable") {
			continue
		}
		lines++
		if rec.HeldBack > 0 && strings.Contains(rec.Msg, fmt.Sprintf("(%d more in the last", rec.HeldBack)) {
			tallied++
		}
	}
	return lines, tallied
}

// keyedCreate creates an experiment with an Idempotency-Key.
func keyedCreate(t *testing.T, g *gateway, key, body string) response {
	t.Helper()
	return g.exchange(t, "POST", "/v2/experiments", func(req *fasthttp.Request) {
		req.Header.SetContentType("application/json")
		req.Header.Set(server.IdempotencyKeyHeader, key)
		req.SetBodyString(body)
	}, nil)
}

// TestRedisOutage: while Redis is down under a bounded load, requests are
// served without their rate limit (failing open) and counted, creates with
// an Idempotency-Key get 503 safe to retry with Retry-After (failing
// closed), and the log holds a line a second per cause, not one per
// request; once Redis is back, both checks work again.
func TestRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	var logs backendtest.SyncBuffer
	g := startGateway(t, gatewayOptions{backends: c.Addrs(), redis: rs.URL(),
		logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	post := func(key string) response { return keyedCreate(t, g, key, `{"project_id":"3","name":"outage"}`) }
	if r := g.get(t, "/v2/experiments/42"); r.status != 200 || r.header.Get(server.RateLimitLimitHeader) == "" {
		t.Fatalf("with Redis: %d, RateLimit-Limit %q", r.status, r.header.Get(server.RateLimitLimitHeader))
	}

	rs.Stop()
	// A bounded load: four clients, each a GET and a keyed POST at a
	// time, 60 rounds.
	const clients, rounds = 4, 60
	var gets, posts atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			for j := range rounds {
				if r := g.get(t, "/v2/experiments/42"); r.status != 200 || r.header.Get(server.RateLimitLimitHeader) != "" {
					t.Errorf("GET without Redis: %d %s, RateLimit-Limit %q; want 200 unchecked", r.status, r.body, r.header.Get(server.RateLimitLimitHeader))
					return
				}
				gets.Add(1)
				r := post(fmt.Sprintf("outage-%d-%d", i, j))
				p := checkProblem(t, r, 503)
				if p.Type != problem.TypeStoreUnavailable || !strings.Contains(p.Detail, "safe to retry") || r.header.Get("Retry-After") == "" {
					t.Errorf("POST without Redis: %+v, Retry-After %q; want store-unavailable, safe to retry, with Retry-After", p, r.header.Get("Retry-After"))
					return
				}
				posts.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if t.Failed() {
		return
	}
	// Every request passed the rate limit unchecked: the GETs, and the
	// POSTs before their claim failed.
	if got, want := metric(t, g, `fanout_store_unchecked_total{check="rate_limit"} `), float64(gets.Load()+posts.Load()); got != want {
		t.Errorf("fanout_store_unchecked_total{check=\"rate_limit\"} %v, want %v", got, want)
	}
	if got := metric(t, g, `fanout_store_unchecked_total{check="idempotency"} `); got != 0 {
		t.Errorf("fanout_store_unchecked_total{check=\"idempotency\"} %v, want 0: idempotency fails closed", got)
	}
	// Two causes (the rate limit, the claim), each at most a line a
	// second, and one more for a burst that straddles a second.
	lines, tallied := storeLines(&logs)
	if limit := 2 * (int(took/time.Second) + 2); lines < 2 || lines > limit {
		t.Errorf("%d store log lines for %d failed checks in %s, want 2 to %d (a line a second per cause)", lines, 2*gets.Load()+posts.Load(), took, limit)
	}
	if lines > 2 && tallied == 0 {
		t.Errorf("no store log line counts the lines it held back:\n%s", logs.String())
	}

	rs.Restart(t)
	poll.Until(t, 5*time.Second, "the rate limit checked again", func() bool {
		r := g.get(t, "/v2/experiments/42")
		return r.status == 200 && r.header.Get(server.RateLimitLimitHeader) != ""
	})
	unchecked := metric(t, g, `fanout_store_unchecked_total{check="rate_limit"} `)
	first := post("after-outage")
	id := createdID(t, first)
	again := post("after-outage")
	if createdID(t, again) != id || again.header.Get(server.ReplayedHeader) != "true" {
		t.Errorf("repeat after the outage: %s, replayed %q; want the replay of %s", again.body, again.header.Get(server.ReplayedHeader), first.body)
	}
	if got := metric(t, g, `fanout_store_unchecked_total{check="rate_limit"} `); got != unchecked {
		t.Errorf("fanout_store_unchecked_total rose from %v to %v with Redis back", unchecked, got)
	}
}

// TestRedisOutageClosedAndOpen: the other failure modes, chosen by flag:
// rate limits that fail closed answer 503 safe to retry; idempotency that
// fails open performs the create, counted, without a record to replay.
func TestRedisOutageClosedAndOpen(t *testing.T) {
	rs := redistest.Start(t)
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	closed := startGateway(t, gatewayOptions{backends: c.Addrs(), redis: rs.URL(), edit: func(cfg *config.Config) {
		cfg.RateLimitOnStoreError = config.FailClosed
	}})
	open := startGateway(t, gatewayOptions{backends: c.Addrs(), redis: rs.URL(), edit: func(cfg *config.Config) {
		cfg.IdempotencyOnStoreError = config.FailOpen
	}})
	rs.Stop()

	r := closed.get(t, "/v2/experiments/42")
	if p := checkProblem(t, r, 503); p.Type != problem.TypeStoreUnavailable || !strings.Contains(p.Detail, "safe to retry") || r.header.Get("Retry-After") == "" {
		t.Errorf("rate limit failing closed: %+v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	if got := metric(t, closed, `fanout_store_unchecked_total{check="rate_limit"} `); got != 0 {
		t.Errorf("failing closed, %v requests counted unchecked", got)
	}

	created := keyedCreate(t, open, "open-1", `{"project_id":"3","name":"open"}`)
	createdID(t, created)
	if created.header.Get(server.ReplayedHeader) != "" {
		t.Errorf("a create performed without the store says it was replayed")
	}
	if got := metric(t, open, `fanout_store_unchecked_total{check="idempotency"} `); got != 1 {
		t.Errorf("fanout_store_unchecked_total{check=\"idempotency\"} %v, want 1", got)
	}
	if !bytes.Contains(open.admin(t, "/metrics").body, []byte("\nfanout_store_errors_total ")) {
		t.Errorf("/metrics lacks fanout_store_errors_total")
	}
}
