package fanout

import (
	"context"
	"errors"
	"testing"
	"time"
)

// enterLater enters g with ctx in a goroutine whose result it returns, and
// fails with what if the goroutine comes out of g within a while: its caller
// holds g full. How long a while can only make the check miss, never fail
// wrongly.
func enterLater(t *testing.T, g gate, ctx context.Context, what string) <-chan error {
	t.Helper()
	entered := make(chan error, 1)
	go func() { entered <- g.enter(ctx) }()
	select {
	case err := <-entered:
		t.Fatalf("%s (err %v)", what, err)
	case <-time.After(20 * time.Millisecond):
	}
	return entered
}

// TestSlotsCap checks that slots let N calls in at once and make the next
// one wait until a call leaves.
func TestSlotsCap(t *testing.T) {
	s := newSlots(2)
	for k := range 2 {
		if err := s.enter(t.Context()); err != nil {
			t.Fatalf("enter %d of 2: %v", k+1, err)
		}
	}
	entered := enterLater(t, s, t.Context(), "a third call came out of two held slots")
	s.leave()
	if err := <-entered; err != nil {
		t.Errorf("the waiting call, once a slot was free: %v", err)
	}
}

// TestSlotsWithdraw checks that a call waiting for a slot is withdrawn when
// its ctx ends, with ctx's error, and takes no slot: the next call gets the
// one freed.
func TestSlotsWithdraw(t *testing.T) {
	s := newSlots(1)
	if err := s.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := s.enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: err %v, want DeadlineExceeded", err)
	}
	s.leave()
	ctx, cancel = context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := s.enter(ctx); err != nil {
		t.Errorf("after the withdrawal and a leave: %v, want the free slot", err)
	}
}

// TestSlotsClosed checks that closed slots turn calls away with ErrClosed.
func TestSlotsClosed(t *testing.T) {
	s := newSlots(1)
	s.close()
	if err := s.enter(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("enter after close: err %v, want ErrClosed", err)
	}
}

// TestLockIgnoresContext checks the blocking mode's pitfall: a call waits for
// the lock although its ctx has ended, and gets it once the holder leaves.
func TestLockIgnoresContext(t *testing.T) {
	var l lock
	if err := l.enter(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	entered := enterLater(t, &l, ctx, "a cancelled call came out of a held lock")
	l.leave()
	if err := <-entered; err != nil {
		t.Errorf("once the lock was free: err %v, want nil (the lock ignores ctx)", err)
	}
	l.leave()
}
