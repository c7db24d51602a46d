package backend_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
)

// TestContentionNeverSentIsUnavailable: under contention for the
// connections, a call that was never sent is unavailable (a retry is
// safe), never a timeout, whenever its wait ended: before or after it got
// a connection slot, at its deadline or just before. Each call has its own
// path, so the backend's log tells which were sent; each caller's deadline
// is staggered so that waits end at every moment of the other calls'
// round trips.
func TestContentionNeverSentIsUnavailable(t *testing.T) {
	slow := func(conn net.Conn, req backendtest.RawRequest) bool {
		time.Sleep(3 * time.Millisecond)
		return echoPath(conn, req)
	}
	c, raw := rawClients(t, backend.Options{MaxConns: 2, MaxConnWaitTimeout: time.Second}, slow)
	const callers, rounds = 16, 8
	type failure struct {
		path string
		err  error
	}
	failures := make(chan failure, callers*rounds)
	var wg sync.WaitGroup
	for w := range callers {
		wg.Go(func() {
			for n := range rounds {
				path := fmt.Sprintf("/c/%d/%d", w, n)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(5+w+n)*time.Millisecond)
				ex := c.Exchange()
				_, _, err := ex.Do(ctx, "b", "GET", path)
				ex.Release()
				cancel()
				if err != nil {
					failures <- failure{path, err}
				}
			}
		})
	}
	wg.Wait()
	close(failures)
	sent := map[string]bool{}
	for _, r := range raw.Requests() {
		sent[r.Path()] = true
	}
	kinds := map[backend.Kind]int{}
	for f := range failures {
		kind := backend.KindOf(f.err)
		kinds[kind]++
		if kind == backend.KindTimeout && !sent[f.path] {
			t.Errorf("call %s was never sent, yet it is a timeout: %v", f.path, f.err)
		}
		if kind == backend.KindUnavailable && sent[f.path] {
			t.Errorf("call %s was sent, yet it is unavailable: %v", f.path, f.err)
		}
	}
	t.Logf("%d calls, %d sent; failures by kind: %v", callers*rounds, len(sent), kinds)
}

// lateSlotCtx is a call's context at the moment its wait for a connection
// ended: the deadline has just passed, and the timer that will close Done
// has not fired yet. A slot or a pooled connection freed at that very
// moment wins the wait as often as the deadline does.
type lateSlotCtx struct{ context.Context }

func (lateSlotCtx) Deadline() (time.Time, bool) { return time.Now().Add(-time.Microsecond), true }

// TestSlotAtDeadlineIsUnavailable: a call that got its connection only
// once its deadline had passed was never sent: unavailable, not a timeout.
func TestSlotAtDeadlineIsUnavailable(t *testing.T) {
	c, raw := rawClients(t, backend.Options{}, echoPath)
	ex := c.Exchange()
	defer ex.Release()
	_, _, err := ex.Do(lateSlotCtx{context.Background()}, "b", "GET", "/late")
	if kind := backend.KindOf(err); kind != backend.KindUnavailable {
		t.Errorf("error %v: kind %q, want unavailable", err, kind)
	}
	if n := len(raw.Requests()); n != 0 {
		t.Errorf("the backend received %d requests, want none", n)
	}
}
