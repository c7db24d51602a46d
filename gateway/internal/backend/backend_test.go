package backend_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
)

func clients(t *testing.T, timeout time.Duration) (*backend.Clients, *backendtest.Fake) {
	t.Helper()
	f := backendtest.New()
	t.Cleanup(f.Close)
	dial := f.InMemory()
	bs := config.Backends(backendtest.Addrs("fake:1"))
	// The layers backend has its own, shorter timeout.
	bs["layers"] = backend.Backend{Addr: "fake:1", Timeout: 20 * time.Millisecond}
	c, err := backend.New(bs, backend.Options{Timeout: timeout, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestDo(t *testing.T) {
	c, _ := clients(t, 0)
	ex := c.Exchange()
	defer ex.Release()
	status, body, err := ex.Do(context.Background(), "experiments", "GET", "/experiments/42")
	if err != nil || status != 200 || string(body) != string(backendtest.Experiment(42)) {
		t.Fatalf("status %d, error %v, body %s", status, err, body)
	}
	status, _, err = ex.Do(context.Background(), "experiments", "GET", "/experiments/0")
	if err != nil || status != 404 {
		t.Fatalf("unknown id: status %d, error %v (a status is not an error)", status, err)
	}
	if _, _, err := ex.Do(context.Background(), "nowhere", "GET", "/"); !errors.Is(err, backend.ErrUnknownBackend) {
		t.Fatalf("unknown backend: %v", err)
	}
}

// TestDeadline: a call ends at the earliest of the request's deadline and
// the call timeout (the backend's own, else the default one).
func TestDeadline(t *testing.T) {
	cases := []struct {
		name     string
		timeout  time.Duration // Options.Timeout
		deadline time.Duration // of the request
		service  string
		want     time.Duration
	}{
		{"request deadline first", time.Second, 30 * time.Millisecond, "results", 30 * time.Millisecond},
		{"call timeout first", 30 * time.Millisecond, time.Second, "results", 30 * time.Millisecond},
		{"backend's own timeout", time.Second, time.Second, "layers", 20 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, f := clients(t, tc.timeout)
			f.Set(tc.service, backendtest.Behaviour{Hang: true})
			// The clock starts before the request's deadline is set, which
			// counts from then: a start taken after it would see a call that
			// ends exactly at the deadline as a little early.
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			ex := c.Exchange()
			defer ex.Release()
			_, _, err := ex.Do(ctx, tc.service, "GET", "/"+tc.service+"/1")
			took := time.Since(start)
			if !errors.Is(err, backend.ErrTimeout) {
				t.Fatalf("error %v, want ErrTimeout", err)
			}
			// At the earlier limit, and well before the later one, which a
			// call that ignored the earlier would reach: a ratio that a
			// loaded machine, slowing the call a little, cannot break.
			if later := max(tc.timeout, tc.deadline); took < tc.want || took > later/2 {
				t.Fatalf("gave up after %v, want about %v, well before %v", took, tc.want, later)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()
	c, err := backend.New(map[string]backend.Backend{"up": {Addr: addr}, "down": {Addr: down}}, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	failed := c.Check(context.Background())
	if len(failed) != 1 || failed["down"] == nil {
		t.Fatalf("failed: %v", failed)
	}
	ex := c.Exchange()
	defer ex.Release()
	if _, _, err := ex.Do(context.Background(), "down", "GET", "/experiments/1"); err == nil {
		t.Fatal("a call to a backend that is down succeeded")
	}
}
