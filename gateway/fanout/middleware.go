package fanout

import "slices"

// A Middleware wraps a Doer in a policy of its own, such as a retry, a hedged
// second request, a per-backend circuit breaker or the coalescing of equal
// calls, and returns the wrapped Doer. It sees every call's context, backend,
// method and path, and may answer without calling next. The Doer it returns
// must keep the Doer contract: safe for concurrent use, a body valid until
// the Result is released. Each policy stays small and is tested alone;
// Chain composes them.
type Middleware func(next Doer) Doer

// Chain returns d wrapped in mws, the first outermost: a call passes through
// mws[0], then mws[1], and so on, and last reaches d. Without middleware it
// returns d itself.
func Chain(d Doer, mws ...Middleware) Doer {
	for _, m := range slices.Backward(mws) {
		d = m(d)
	}
	return d
}
