// Package retry retries idempotent backend calls within a budget (a
// fanout.Budget, the type hedged duplicates draw on too), as Finagle's and
// Envoy's retry budgets do: every call declared `retry: true` earns the
// budget a share of a retry, and a retry spends a whole one, so
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
	"syscall"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"

	"github.com/valyala/fasthttp"
)

// DefaultRatio is the share of calls that may be retried: 10 %.
const DefaultRatio = 0.1

// Burst bounds the retries saved up in quiet times, so that a burst of
// failures after a long calm spends at most this many at once.
const Burst = 100

// NewBudget returns the process-wide budget that allows retries up to
// ratio of the calls that declare retry (0.1: one in ten); nil, which
// retries nothing, for 0.
func NewBudget(ratio float64) (*fanout.Budget, error) {
	if ratio == 0 {
		return nil, nil
	}
	b, err := fanout.NewBudget(ratio, Burst)
	if err != nil {
		return nil, fmt.Errorf("retry %w", err)
	}
	return b, nil
}

// Policy is the retry policy of the calls that declare `retry: true`: a
// fanout.Policy that draws on a process-wide Budget. It is safe for
// concurrent use.
type Policy struct {
	budget *fanout.Budget
}

// New returns the retry policy drawing on budget, which must not be nil.
func New(budget *fanout.Budget) *Policy { return &Policy{budget: budget} }

// Do performs the call with next and retries it once if it is a GET,
// failed in a way worth retrying, has time left for another attempt and
// the budget allows it. The second attempt's context is marked
// (fanout.AttemptRetry), so that a trace shows it as a retry.
func (p *Policy) Do(ctx context.Context, c *fanout.Call, path string, next fanout.Next) (int, []byte, fanout.Via, error) {
	if c.Spec.Method != fasthttp.MethodGet {
		return next.Do(ctx, path)
	}
	p.budget.Deposit()
	t0 := time.Now()
	status, body, via, err := next.Do(ctx, path)
	if !worthRetrying(status, err) || ctx.Err() != nil {
		return status, body, via, err
	}
	// A second attempt that cannot finish before the deadline only adds
	// load: it must have at least the time the first one took.
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < time.Since(t0) {
		return status, body, via, err
	}
	if !p.budget.Take() {
		return status, body, via, err
	}
	return next.Do(fanout.WithAttempt(ctx, fanout.AttemptRetry), path)
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
