package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a Fatalf instead of stopping the
// goroutine, so that Until's failure can itself be tested.
type recorder struct {
	testing.TB
	failed atomic.Bool
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed.Store(true)
}

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 5 {
			time.Sleep(time.Millisecond)
			n.Add(1)
		}
	}()
	r := &recorder{TB: t}
	Until(r, 5*time.Second, "five steps", func() bool { return n.Load() >= 5 })
	if r.failed.Load() || n.Load() < 5 {
		t.Fatalf("returned with %d steps, failed %v", n.Load(), r.failed.Load())
	}
}

func TestUntilFailsWhenTheConditionNeverHolds(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	Until(r, 20*time.Millisecond, "nothing", func() bool {
		calls++
		// Stop the loop once Fatalf was recorded, as t.Fatalf would.
		return r.failed.Load()
	})
	if !r.failed.Load() || calls < 2 {
		t.Fatalf("failed %v after %d checks; want a failure after several checks", r.failed.Load(), calls)
	}
}
