package fanout

import "context"

// An Observer is an optional interface of the Params given to Execute: the
// caller's hooks around each call the engine sends, for a trace of the
// request. StartCall runs in the call's goroutine before the call goes
// through its Policy and the Doer, and the context it returns is the one
// they get: an Observer may carry there what its Doer needs to know of the
// call (its name, a span). EndCall runs once the call's Outcome is final,
// with that same context, before any dependent of the call starts. Calls
// that are never sent (a dependency failed, the run was aborted first) see
// neither. Both must be safe for concurrent use by the calls of one
// Execute, and must not keep o. The engine knows nothing of what an
// Observer records: a caller that observes nothing for a request returns
// ctx unchanged, which costs the call no allocation.
type Observer interface {
	StartCall(ctx context.Context, c *Call) context.Context
	EndCall(ctx context.Context, c *Call, o *Outcome)
}

// Attempt says which attempt of a call a Doer performs: the call's own,
// a hedged duplicate or a retry. Policies that send a call
// more than once mark the contexts of the further attempts (WithAttempt),
// so that a Doer that traces calls can tell them apart.
type Attempt uint8

// The attempts of a call.
const (
	AttemptFirst Attempt = iota // the call's own attempt
	AttemptHedge                // a duplicate a Hedger sent
	AttemptRetry                // a second attempt a retry policy sent
)

// String names the attempt as traces show it; "" for AttemptFirst.
func (a Attempt) String() string {
	switch a {
	case AttemptHedge:
		return "hedge"
	case AttemptRetry:
		return "retry"
	}
	return ""
}

// attemptKey is the context key of an Attempt.
type attemptKey struct{}

// WithAttempt returns ctx marked as carrying attempt a of its call. It
// costs an allocation, which only the further attempts, rare by design
// (they draw on budgets), pay.
func WithAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// AttemptOf returns the attempt ctx was marked with, AttemptFirst if none.
func AttemptOf(ctx context.Context) Attempt {
	a, _ := ctx.Value(attemptKey{}).(Attempt)
	return a
}
