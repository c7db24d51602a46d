package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// TestShutdownPastGrace stops a gateway whose request in flight outlasts
// the grace period: Shutdown ends without error once the grace is over, and
// the client is answered 503 with a problem and Connection: close, not left
// with a bare end of file.
func TestShutdownPastGrace(t *testing.T) {
	g, f := withFake(t, gatewayOptions{deadline: 10 * time.Second})
	const slow = 5 * time.Second
	f.Set("results", backendtest.Behaviour{Delay: slow})

	answered := make(chan response, 1)
	go func() { answered <- g.get(t, "/v2/experiments/42/results") }()
	for f.Calls("results") == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown past the grace period: %v", err)
	}
	r := <-answered
	if took := time.Since(start); took >= slow {
		t.Errorf("answered %v after the shutdown began, when the backend did", took)
	}
	// A connection-level answer: it names no instance.
	var p problem.Problem
	if err := json.Unmarshal(r.body, &p); err != nil || r.status != fasthttp.StatusServiceUnavailable ||
		p.Status != r.status || p.Type != problem.TypeUnavailable || r.header.Get("Content-Type") != problem.ContentType {
		t.Errorf("status %d %q: %s (%v), want a 503 problem", r.status, r.header.Get("Content-Type"), r.body, err)
	}
	if c := r.header.Get("Connection"); c != "close" {
		t.Errorf("Connection %q, want close", c)
	}
}
