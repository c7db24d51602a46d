package lazyctx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// ended waits for ch to close, failing after a generous deadline.
func ended(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Done not closed after 10s", what)
	}
}

// TestErrWithoutDone checks that a Context that nobody waits on still
// reports, through Err and Deadline, what a standard one would.
func TestErrWithoutDone(t *testing.T) {
	past, future := time.Now().Add(-time.Millisecond), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name   string
		parent func() context.Context
		at     time.Time
		cancel bool
		want   error
		// deadline is what Deadline returns: the earlier of at and the
		// parent's.
		deadline time.Time
	}{
		// A live context with neither deadline reports none.
		{"live, no deadline", context.Background, time.Time{}, false, nil, time.Time{}},
		// Its own deadline in the future: live, and Deadline says when.
		{"live, own deadline", context.Background, future, false, nil, future},
		// Its own deadline passed: expired with no timer ever armed.
		{"own deadline passed", context.Background, past, false, context.DeadlineExceeded, past},
		// Cancel ends it.
		{"cancelled", context.Background, future, true, context.Canceled, future},
		// Cancel after its deadline passed keeps DeadlineExceeded, as a
		// standard context's sticky error does.
		{"cancelled after its deadline", context.Background, past, true, context.DeadlineExceeded, past},
		// A cancelled parent ends it.
		{"parent cancelled", func() context.Context {
			p, cancel := context.WithCancel(context.Background())
			cancel()
			return p
		}, future, false, context.Canceled, future},
		// The parent's earlier deadline is the Deadline, and its passing
		// is the parent's to report.
		{"parent's earlier deadline passed", func() context.Context {
			p, cancel := context.WithDeadline(context.Background(), past)
			t.Cleanup(cancel)
			return p
		}, future, false, context.DeadlineExceeded, past},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Context
			c.Reset(tc.parent(), tc.at)
			if tc.cancel {
				c.Cancel()
			}
			if err := c.Err(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Err() = %v, want %v", err, tc.want)
			}
			if d, ok := c.Deadline(); !d.Equal(tc.deadline) || ok == tc.deadline.IsZero() {
				t.Errorf("Deadline() = %v, %v; want %v", d, ok, tc.deadline)
			}
		})
	}
}

// TestDoneCloses checks that Done, which arms the Context, closes for each
// way it can end, before or after arming.
func TestDoneCloses(t *testing.T) {
	t.Run("at its own deadline", func(t *testing.T) {
		var c Context
		c.Reset(context.Background(), time.Now().Add(20*time.Millisecond))
		if c.Err() != nil {
			t.Fatal("ended before its deadline")
		}
		ended(t, c.Done(), "deadline")
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err() = %v, want DeadlineExceeded", c.Err())
		}
		c.Cancel()
	})
	t.Run("cancelled after arming", func(t *testing.T) {
		var c Context
		c.Reset(context.Background(), time.Now().Add(time.Hour))
		done := c.Done()
		c.Cancel()
		ended(t, done, "cancel")
	})
	t.Run("cancelled before arming", func(t *testing.T) {
		var c Context
		c.Reset(context.Background(), time.Time{})
		c.Cancel()
		ended(t, c.Done(), "cancel before Done")
	})
	t.Run("parent cancelled", func(t *testing.T) {
		p, cancel := context.WithCancel(context.Background())
		var c Context
		c.Reset(p, time.Now().Add(time.Hour))
		done := c.Done()
		cancel()
		ended(t, done, "parent cancel")
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err() = %v, want Canceled", c.Err())
		}
		c.Cancel()
	})
}

// TestChildren checks that contexts derived from a Context end with it,
// whether derived through the standard package or as another Context, and
// see its values.
func TestChildren(t *testing.T) {
	type key struct{}
	var c Context
	c.Reset(context.WithValue(context.Background(), key{}, "v"), time.Time{})
	std, stop := context.WithCancel(&c)
	defer stop()
	var lazy Context
	lazy.Reset(&c, time.Now().Add(time.Hour))
	if std.Value(key{}) != "v" || lazy.Value(key{}) != "v" {
		t.Errorf("values %v and %v, want the parent's v", std.Value(key{}), lazy.Value(key{}))
	}
	if lazy.Err() != nil || std.Err() != nil {
		t.Fatal("children ended before their parent")
	}
	c.Cancel()
	ended(t, std.Done(), "standard child")
	if !errors.Is(lazy.Err(), context.Canceled) {
		t.Errorf("lazy child Err() = %v, want Canceled", lazy.Err())
	}
	ended(t, lazy.Done(), "lazy child")
	lazy.Cancel()
}

// TestConcurrentUse arms, asks and cancels one Context from several
// goroutines at once: under -race, this checks its synchronisation, and
// every waiter must see Done close.
func TestConcurrentUse(t *testing.T) {
	for range 50 {
		var c Context
		c.Reset(context.Background(), time.Now().Add(time.Hour))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_ = c.Err()
				<-c.Done()
			})
		}
		wg.Go(c.Cancel)
		wg.Wait()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err() = %v, want Canceled", c.Err())
		}
	}
}

// TestUnarmedAllocatesNothing checks the point of the package: a Context
// that is reset, asked Err, Deadline and a value, and cancelled, without
// anyone waiting on Done, allocates nothing, where context.WithTimeout
// allocates on every call.
func TestUnarmedAllocatesNothing(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var c Context
	n := testing.AllocsPerRun(100, func() {
		c.Reset(parent, time.Now().Add(time.Minute))
		_, _ = c.Deadline()
		_ = c.Value("key")
		if c.Err() != nil {
			t.Fatal("ended early")
		}
		c.Cancel()
	})
	if n != 0 {
		t.Errorf("%v allocations per use, want 0", n)
	}
}

// BenchmarkCallContext compares a call's timeout context made with
// context.WithTimeout and with a reused Context, asked what a backend
// call asks: its deadline and, twice, its error.
func BenchmarkCallContext(b *testing.B) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.Run("WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(parent, time.Minute)
			_, _ = ctx.Deadline()
			_, _ = ctx.Err(), ctx.Err()
			cancel()
		}
	})
	b.Run("lazyctx", func(b *testing.B) {
		var c Context
		b.ReportAllocs()
		for b.Loop() {
			c.Reset(parent, time.Now().Add(time.Minute))
			_, _ = c.Deadline()
			_, _ = c.Err(), c.Err()
			c.Cancel()
		}
	})
}

// BenchmarkNestedErr is Err on a call's context as the gateway nests it:
// the call's timeout under the engine's run, under the server's deadline,
// all three with a deadline of their own. The clock is read once for the
// three.
func BenchmarkNestedErr(b *testing.B) {
	var server, run, call Context
	server.Reset(context.Background(), time.Now().Add(time.Hour))
	run.Reset(&server, time.Now().Add(time.Hour))
	call.Reset(&run, time.Now().Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if call.Err() != nil {
			b.Fatal("ended")
		}
	}
}

// TestNestedErr: a Context under Contexts ends with the first of their
// deadlines to pass, and with the cancel of any of them.
func TestNestedErr(t *testing.T) {
	var server, run, call Context
	server.Reset(context.Background(), time.Now().Add(time.Hour))
	run.Reset(&server, time.Now().Add(-time.Millisecond))
	call.Reset(&run, time.Now().Add(time.Hour))
	if err := call.Err(); err != context.DeadlineExceeded {
		t.Errorf("parent's deadline passed: Err %v, want %v", err, context.DeadlineExceeded)
	}
	run.Reset(&server, time.Now().Add(time.Hour))
	call.Reset(&run, time.Now().Add(time.Hour))
	if err := call.Err(); err != nil {
		t.Errorf("no deadline passed: Err %v", err)
	}
	server.Cancel()
	if err := call.Err(); err != context.Canceled {
		t.Errorf("the outermost cancelled: Err %v, want %v", err, context.Canceled)
	}
	server.Reset(context.Background(), time.Time{})
	run.Reset(&server, time.Time{})
	call.Reset(&run, time.Now().Add(-time.Millisecond))
	if err := call.Err(); err != context.DeadlineExceeded {
		t.Errorf("own deadline passed, none above: Err %v, want %v", err, context.DeadlineExceeded)
	}
}
