package server_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/poll"
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
	poll.Until(t, 10*time.Second, "the results call", func() bool { return f.Calls("results") > 0 })
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

// TestShutdownCreateInFlight: a create whose call the backend has
// received when the shutdown begins is answered with the backend's answer
// if it comes within the grace period; past it, with a 504 whose problem
// says that the outcome is unknown, never the 503 that says a retry is
// safe (a retry without a key would create twice).
func TestShutdownCreateInFlight(t *testing.T) {
	for _, c := range []struct {
		name   string
		delay  time.Duration
		grace  time.Duration
		status int
	}{
		{"answered within the grace period", 300 * time.Millisecond, 5 * time.Second, fasthttp.StatusCreated},
		{"cut past the grace period", 5 * time.Second, 100 * time.Millisecond, fasthttp.StatusGatewayTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, f := withFake(t, gatewayOptions{deadline: 10 * time.Second})
			f.Set("experiments", backendtest.Behaviour{Delay: c.delay})
			answered := make(chan response, 1)
			go func() {
				answered <- g.do(t, "POST", "/v2/experiments", "application/json", []byte(`{"project_id":"3","name":"x"}`))
			}()
			poll.Until(t, 5*time.Second, "the create to reach the backend", func() bool { return f.Calls("experiments") > 0 })
			ctx, cancel := context.WithTimeout(context.Background(), c.grace)
			defer cancel()
			if err := g.srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			r := <-answered
			if r.status != c.status {
				t.Fatalf("status %d: %s, want %d", r.status, r.body, c.status)
			}
			if c.status == fasthttp.StatusGatewayTimeout {
				var p problem.Problem
				if err := json.Unmarshal(r.body, &p); err != nil || p.Type != problem.TypeGatewayTimeout || !strings.Contains(p.Detail, "unknown") {
					t.Errorf("problem %s (%v), want a gateway-timeout whose outcome is unknown", r.body, err)
				}
				if ra := r.header.Get("Retry-After"); ra != "" {
					t.Errorf("Retry-After %q on an answer whose outcome is unknown", ra)
				}
			}
		})
	}
}

// TestShutdownBeforeServe: a Shutdown that comes before Serve (a stop
// signal right after the start) makes Serve return at once, rather than
// serve on unseen.
func TestShutdownBeforeServe(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- g.srv.Serve(ln) }()
	var serveErr error
	poll.Until(t, 5*time.Second, "Serve after Shutdown to return", func() bool {
		select {
		case serveErr = <-served:
			return true
		default:
			return false
		}
	})
	if serveErr != nil {
		t.Errorf("Serve after Shutdown: %v, want nil", serveErr)
	}
}
