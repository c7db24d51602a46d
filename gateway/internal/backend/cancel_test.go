package backend_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
)

// TestCancelledCallLetsGo: a call whose context is cancelled while the
// backend still works on it returns at once once its Exchange is
// interrupted, with the context's error, not at its deadline and not as a
// backend timeout; its connection is closed, so the backend sees the end
// of the stream and may stop working; and the next call on the same client
// works, on a fresh connection. An Interrupt leaves alone a call whose
// context is not done: it gets its answer.
func TestCancelledCallLetsGo(t *testing.T) {
	received := make(chan struct{}, 1)
	eof := make(chan error, 1)
	answer := make(chan struct{})
	slow := func(conn net.Conn, req backendtest.RawRequest) bool {
		switch req.Path() {
		case "/slow":
			received <- struct{}{}
			// Never answer: wait for the gateway to let go of the connection.
			_, err := io.Copy(io.Discard, conn)
			eof <- err
			return false
		case "/later":
			received <- struct{}{}
			<-answer
		}
		return echoPath(conn, req)
	}
	c, _ := rawClients(t, backend.Options{}, slow)
	const deadline = 3 * time.Second

	t.Run("cancelled, then interrupted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		ex := c.Exchange()
		go func() {
			<-received
			cancel()
			ex.Interrupt()
		}()
		start := time.Now()
		_, _, err := ex.Do(ctx, "b", "GET", "/slow")
		took := time.Since(start)
		ex.Release()
		t.Logf("cancelled call returned after %v (deadline %v): %v", took, deadline, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if errors.Is(err, backend.ErrTimeout) || backend.KindOf(err) != backend.KindCancelled {
			t.Errorf("a cancelled call reads as a backend timeout: %v", err)
		}
		if took > deadline/3 {
			t.Errorf("the cancelled call returned after %v, want well before its deadline %v", took, deadline)
		}
		select {
		case err := <-eof:
			if err != nil {
				t.Logf("the backend's read ended with %v", err)
			}
		case <-time.After(deadline / 3):
			t.Fatal("the backend never saw its connection closed")
		}
		if c.InFlight("b") != 0 {
			t.Errorf("%d calls in flight after the cancel", c.InFlight("b"))
		}

		ex = c.Exchange()
		defer ex.Release()
		status, body, err := ex.Do(context.Background(), "b", "GET", "/next")
		if err != nil || status != 200 || string(body) != `"/next"` {
			t.Fatalf("the next call: status %d, body %s, error %v", status, body, err)
		}
	})

	t.Run("interrupted, not cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		ex := c.Exchange()
		defer ex.Release()
		go func() {
			<-received
			// The call is on the wire: the backend holds its answer
			// until the Interrupt has run.
			ex.Interrupt()
			close(answer)
		}()
		status, body, err := ex.Do(ctx, "b", "GET", "/later")
		if err != nil || status != 200 || string(body) != `"/later"` {
			t.Fatalf("a call whose context is not done, after an Interrupt: status %d, body %s, error %v", status, body, err)
		}
	})
}

// TestCancelledBeforeSent: a call whose context is already cancelled is not
// sent, and says so with the context's error.
func TestCancelledBeforeSent(t *testing.T) {
	c, raw := rawClients(t, backend.Options{}, echoPath)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ex := c.Exchange()
	defer ex.Release()
	_, _, err := ex.Do(ctx, "b", "GET", "/never")
	if !errors.Is(err, context.Canceled) || backend.KindOf(err) != backend.KindCancelled {
		t.Errorf("error %v (kind %s), want context.Canceled of kind %s", err, backend.KindOf(err), backend.KindCancelled)
	}
	if n := len(raw.Requests()); n != 0 {
		t.Errorf("the backend received %d requests", n)
	}
}
