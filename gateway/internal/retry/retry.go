// Package retry retries idempotent backend calls within a budget, as
// Finagle's and Envoy's retry budgets do: every call declared `retry: true`
// earns the budget a share of a retry, and a retry spends a whole one, so
// that retries stay a bounded fraction of the calls however badly a backend
// fails. Retries then can never multiply the load on a struggling backend,
// the failure that naive retries turn into an outage.
//
// Only what is safe and likely to help is retried: a GET that was never
// sent (no connection could be made or was free) or that the backend
// refused with 503, once, and only if what is left of the call's deadline
// is longer than the failed attempt took.
package retry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"

	"github.com/valyala/fasthttp"
)

// DefaultRatio is the share of calls that may be retried: 10 %.
const DefaultRatio = 0.1

// maxBalance bounds the retries saved up in quiet times, so that a burst
// of failures after a long calm spends at most this many at once.
const maxBalance = 100

// Budget is a process-wide retry budget. The zero value and nil retry
// nothing. It is safe for concurrent use.
type Budget struct {
	ratio float64

	mu      sync.Mutex
	balance float64 // retries earned and not spent

	retries atomic.Int64 // retries sent
	denied  atomic.Int64 // retries the budget refused
}

// New returns a budget that allows retries up to ratio of the calls that
// declare retry (0.1: one in ten); nil, which retries nothing, for 0.
func New(ratio float64) (*Budget, error) {
	if ratio < 0 || ratio > 1 {
		return nil, fmt.Errorf("retry budget %v: want a share between 0 and 1", ratio)
	}
	if ratio == 0 {
		return nil, nil
	}
	return &Budget{ratio: ratio}, nil
}

// Ratio returns the share of calls that may be retried; 0 for nil.
func (b *Budget) Ratio() float64 {
	if b == nil {
		return 0
	}
	return b.ratio
}

// Retries returns how many retries were sent.
func (b *Budget) Retries() int64 {
	if b == nil {
		return 0
	}
	return b.retries.Load()
}

// Denied returns how many retries the budget refused.
func (b *Budget) Denied() int64 {
	if b == nil {
		return 0
	}
	return b.denied.Load()
}

// earn credits the budget with one call's share.
func (b *Budget) earn() {
	b.mu.Lock()
	b.balance = min(b.balance+b.ratio, maxBalance)
	b.mu.Unlock()
}

// spend takes one retry from the budget, if it holds one.
func (b *Budget) spend() bool {
	b.mu.Lock()
	ok := b.balance >= 1
	if ok {
		b.balance--
	}
	b.mu.Unlock()
	if ok {
		b.retries.Add(1)
	} else {
		b.denied.Add(1)
	}
	return ok
}

// Do performs one call with next and retries it once if the call declares
// retry (fanout.SpecOf), is a GET, failed in a way worth retrying, has time
// left for another attempt and the budget allows it. Any other call passes
// straight through, and so does every call of a nil Budget.
func (b *Budget) Do(ctx context.Context, next fanout.Doer, backendName, method, path string) (int, []byte, error) {
	if b == nil || method != fasthttp.MethodGet {
		return next.Do(ctx, backendName, method, path)
	}
	if s, ok := fanout.SpecOf(ctx); !ok || !s.Retry {
		return next.Do(ctx, backendName, method, path)
	}
	b.earn()
	t0 := time.Now()
	status, body, err := next.Do(ctx, backendName, method, path)
	if !worthRetrying(status, err) || ctx.Err() != nil {
		return status, body, err
	}
	// A second attempt that cannot finish before the deadline only adds
	// load: it must have at least the time the first one took.
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < time.Since(t0) {
		return status, body, err
	}
	if !b.spend() {
		return status, body, err
	}
	// Marked, so that a trace shows the second attempt as a retry.
	return next.Do(fanout.WithAttempt(ctx, fanout.AttemptRetry), backendName, method, path)
}

// Middleware returns the Budget as fanout middleware, for callers that
// compose Doers with fanout.Chain.
func (b *Budget) Middleware() fanout.Middleware {
	return func(next fanout.Doer) fanout.Doer {
		return fanout.DoerFunc(func(ctx context.Context, backendName, method, path string) (int, []byte, error) {
			return b.Do(ctx, next, backendName, method, path)
		})
	}
}

// worthRetrying says whether a call may succeed a second time without
// risk: a 503 (the backend asks to come back), or a call never sent: no
// free connection, or no connection could be made at all. A call that
// timed out or broke on the wire may have been processed, and is not
// retried; nor is a call the gateway gave up.
func worthRetrying(status int, err error) bool {
	if err == nil {
		return status == fasthttp.StatusServiceUnavailable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if backend.KindOf(err) == backend.KindUnavailable || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
