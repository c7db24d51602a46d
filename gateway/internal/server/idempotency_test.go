package server_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store/redistest"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"

	"github.com/valyala/fasthttp"
)

// createdID is the id of a created experiment's body.
func createdID(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		ID string `json:"id"`
	}
	if r.status != 201 || json.Unmarshal(r.body, &e) != nil || e.ID == "" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return e.ID
}

// TestIdempotencyKey: the whole contract of Idempotency-Key on a create,
// through a real HTTP client and the mock experiments service.
func TestIdempotencyKey(t *testing.T) {
	c, tokens := mocksWithTokens(t, assemblytest.TokenEntry("other", otherSecret, "all", "read-write", "{limit: 1000, per: 1s}"))
	g := serveHTTP(t, c, tokens, nil)
	const body = `{"project_id":"3","name":"checkout button"}`
	key := func(k string) map[string]string { return map[string]string{server.IdempotencyKeyHeader: k} }
	create := func(secret, body string, h map[string]string) response {
		return g.call(t, "POST", "/v2/experiments", secret, body, h)
	}

	t.Run("replay", func(t *testing.T) {
		first := create(assemblytest.Token, body, key("replay-1"))
		id := createdID(t, first)
		if first.header.Get(server.ReplayedHeader) != "" {
			t.Errorf("the first attempt says %s", server.ReplayedHeader)
		}
		again := create(assemblytest.Token, body, key("replay-1"))
		if again.status != 201 || string(again.body) != string(first.body) || again.header.Get("Location") != first.header.Get("Location") ||
			again.header.Get("Content-Type") != first.header.Get("Content-Type") {
			t.Errorf("replay: %d %q %s, want %d %q %s", again.status, again.header.Get("Location"), again.body,
				first.status, first.header.Get("Location"), first.body)
		}
		if again.header.Get(server.ReplayedHeader) != "true" {
			t.Errorf("replay: %s %q, want true", server.ReplayedHeader, again.header.Get(server.ReplayedHeader))
		}
		// Without a key, or with another one, a create is a new one.
		if createdID(t, create(assemblytest.Token, body, nil)) == id {
			t.Error("a create without a key got the same experiment")
		}
		// Keys belong to their token.
		if createdID(t, create(otherSecret, body, key("replay-1"))) == id {
			t.Error("another token's create with the same key got the same experiment")
		}
	})
	t.Run("422 for another body", func(t *testing.T) {
		createdID(t, create(assemblytest.Token, body, key("body-1")))
		r := create(assemblytest.Token, strings.Replace(body, "checkout", "basket", 1), key("body-1"))
		if p := checkProblem(t, r, 422); p.Type != problem.TypeIdempotencyMismatch {
			t.Errorf("type %q", p.Type)
		}
	})
	t.Run("400 for a bad key", func(t *testing.T) {
		for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9"} {
			r := create(assemblytest.Token, body, key(k))
			if p := checkProblem(t, r, 400); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != server.IdempotencyKeyHeader {
				t.Errorf("key %q: %s", k, r.body)
			}
		}
	})
	t.Run("409 while the first attempt runs", func(t *testing.T) {
		slow := model.Fixed(600 * time.Millisecond)
		if err := c.SetConfig(model.ServiceExperiments, model.Service{Latency: &slow}); err != nil {
			t.Fatal(err)
		}
		defer c.SetConfig(model.ServiceExperiments, model.Service{Latency: &model.Latency{Kind: "none"}})
		var wg sync.WaitGroup
		var first response
		wg.Go(func() { first = create(assemblytest.Token, body, key("busy-1")) })
		poll.Until(t, 5*time.Second, "the first create to reach the backend", func() bool {
			return c.Stats(model.ServiceExperiments).Routes[model.RouteCreateExperiment].InFlight > 0
		})
		r := create(assemblytest.Token, body, key("busy-1"))
		if p := checkProblem(t, r, 409); p.Type != problem.TypeIdempotencyInProgress {
			t.Errorf("type %q", p.Type)
		}
		wg.Wait()
		id := createdID(t, first)
		if createdID(t, create(assemblytest.Token, body, key("busy-1"))) != id {
			t.Error("after the first attempt, a repeat got another experiment")
		}
	})
	t.Run("an unknown outcome is not recorded and creates once", func(t *testing.T) {
		// The ids of created experiments run in order: the create after
		// a lost one shows whether the lost one created anything.
		before := createdID(t, create(assemblytest.Token, body, key("lost-0")))
		reset := model.Faults{Reset: 1}
		none := model.Latency{Kind: "none"}
		if err := c.SetConfig(model.ServiceExperiments, model.Service{Latency: &none, Routes: map[string]model.Route{
			model.RouteCreateExperiment: {Faults: &reset},
		}}); err != nil {
			t.Fatal(err)
		}
		lost := create(assemblytest.Token, body, key("lost-1"))
		if lost.status < 500 {
			t.Fatalf("a create whose connection was reset: %d %s, want a 5xx", lost.status, lost.body)
		}
		if err := c.SetConfig(model.ServiceExperiments, model.Service{Latency: &none}); err != nil {
			t.Fatal(err)
		}
		retry := create(assemblytest.Token, body, key("lost-1"))
		if retry.header.Get(server.ReplayedHeader) != "" {
			t.Errorf("the retry of an unknown outcome was replayed: %d %s", retry.status, retry.body)
		}
		got := createdID(t, retry)
		next := createdID(t, create(assemblytest.Token, body, key("lost-2")))
		if got != next1(before) || next != next1(got) {
			t.Errorf("ids: %s before, %s for the retried create, %s after it: the lost attempt and its retry made two experiments", before, got, next)
		}
	})
}

// next1 is the id after id.
func next1(id string) string {
	n, _ := strconv.Atoi(id)
	return strconv.Itoa(n + 1)
}

// TestIdempotencyKeysNeverCrossTokens: the records of two tokens whose
// names and keys join into the same text ("a" with "b:c", "a:b" with "c")
// are apart, in either store. The second token neither replays the first
// one's create nor learns from a 422 which keys the first one used.
func TestIdempotencyKeysNeverCrossTokens(t *testing.T) {
	t.Run("memory", func(t *testing.T) { keysNeverCrossTokens(t, nil) })
	t.Run("redis", func(t *testing.T) {
		url := redistest.Start(t).URL()
		keysNeverCrossTokens(t, func(cfg *config.Config) { cfg.Redis = url })
	})
}

func keysNeverCrossTokens(t *testing.T, edit func(*config.Config)) {
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	const aSecret, abSecret = "token-a-secret", "token-ab-secret"
	tokens := assemblytest.TokensFile(t,
		assemblytest.TokenEntry("a", aSecret, "[3]", "read-write", "{limit: 1000, per: 1s}"),
		assemblytest.TokenEntry("a:b", abSecret, "[3, 4]", "read-write", "{limit: 1000, per: 1s}"))
	g := serveHTTP(t, c, tokens, edit)
	create := func(secret, body, key string) response {
		return g.call(t, "POST", "/v2/experiments", secret, body, map[string]string{server.IdempotencyKeyHeader: key})
	}
	const three, four = `{"project_id":"3","name":"checkout button"}`, `{"project_id":"4","name":"checkout button"}`
	first := createdID(t, create(aSecret, three, "b:c"))
	// The same body: before, a replay of token a's experiment.
	same := create(abSecret, three, "c")
	if got := createdID(t, same); got == first || same.header.Get(server.ReplayedHeader) != "" {
		t.Errorf("token a:b with key c got token a's experiment %s (replayed %q)", got, same.header.Get(server.ReplayedHeader))
	}
	createdID(t, create(aSecret, three, "b:e"))
	// Another body: before, a 422 that told token a:b that a used b:e.
	if other := create(abSecret, four, "e"); other.status != 201 {
		t.Errorf("token a:b with key e and its own body: %d %s, want 201", other.status, other.body)
	}
}

// TestIdempotentCreateStaysInScope: neither a created body nor a replayed
// record shows a token an experiment of a project it does not see. The
// fake experiments service creates every experiment in project 51; token
// a sees it at first, and a restart with a tokens file that takes it away
// leaves the record of that create in the shared store.
func TestIdempotentCreateStaysInScope(t *testing.T) {
	rs := redistest.Start(t)
	const secret = "token-a-secret"
	const body = `{"project_id":"3","name":"checkout button"}`
	before := assemblytest.TokensFile(t, assemblytest.TokenEntry("a", secret, "[3, 51]", "read-write", "{limit: 1000, per: 1s}"))
	after := assemblytest.TokensFile(t, assemblytest.TokenEntry("a", secret, "[3]", "read-write", "{limit: 1000, per: 1s}"))
	create := func(g *gateway, key string) response {
		return g.exchange(t, "POST", "/v2/experiments", func(req *fasthttp.Request) {
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.SetContentType("application/json")
			if key != "" {
				req.Header.Set(server.IdempotencyKeyHeader, key)
			}
			req.SetBodyString(body)
		}, nil)
	}
	first, _ := withFake(t, gatewayOptions{tokens: before, redis: rs.URL()})
	createdID(t, create(first, "k1"))
	restarted, _ := withFake(t, gatewayOptions{tokens: after, redis: rs.URL()})
	if r := create(restarted, "k1"); r.status != 404 || strings.Contains(string(r.body), `"id"`) {
		t.Errorf("the replay of a record out of the token's scope: %d %s, want 404", r.status, r.body)
	}
	if r := create(restarted, ""); r.status != 502 || strings.Contains(string(r.body), `"id"`) {
		t.Errorf("a create the backend made out of the token's scope: %d %s, want 502", r.status, r.body)
	}
}

// TestIdempotencyRecordsAreBounded: a token holds at most its quota of
// records, a backend's refusal, which costs nothing to provoke, among
// them; the metrics count the records.
func TestIdempotencyRecordsAreBounded(t *testing.T) {
	g, f := withFake(t, gatewayOptions{idempotencyQuota: 2})
	const body = `{"project_id":"3","name":"x"}`
	create := func(key string) response {
		return g.exchange(t, "POST", "/v2/experiments", func(req *fasthttp.Request) {
			req.Header.SetContentType("application/json")
			req.Header.Set(server.IdempotencyKeyHeader, key)
			req.SetBodyString(body)
		}, nil)
	}
	f.Set("experiments", backendtest.Behaviour{Status: 422})
	if r := create("refused"); r.status != 422 {
		t.Fatalf("a refused create: %d %s", r.status, r.body)
	}
	f.Set("experiments", backendtest.Behaviour{})
	createdID(t, create("second"))
	r := create("third")
	if p := checkProblem(t, r, 429); p.Type != problem.TypeIdempotencyQuota {
		t.Errorf("a create past the quota: type %q", p.Type)
	}
	g.validateResponse(t, "POST", "/v2/experiments", r)
	for key, status := range map[string]int{"refused": 422, "second": 201} {
		if r := create(key); r.status != status || r.header.Get(server.ReplayedHeader) != "true" {
			t.Errorf("key %s, held, past the quota: %d %q, want the replay of its %d", key, r.status, r.header.Get(server.ReplayedHeader), status)
		}
	}
	if m := g.admin(t, "/metrics"); !bytes.Contains(m.body, []byte("fanout_idempotency_records 2")) {
		t.Errorf("/metrics does not count the 2 records:\n%s", grepLines(string(m.body), "idempotency"))
	}
}
