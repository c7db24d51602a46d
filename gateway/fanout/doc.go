// Package fanout compiles the backend calls of one aggregate operation into a
// Plan (a dependency graph inferred from path templates) and runs a Plan with
// one of several strategies (Executors).
//
// A call's path template refers to request parameters ({experiment_id}) and to
// top-level fields of other calls' JSON responses ({experiment.layer_id}); those
// references are the dependency graph, so it is never declared twice. Compile
// rejects cycles, unknown references, duplicate names and bad syntax, naming the
// operation and the call.
//
// The strategies tell the story of fan-out in a gateway:
//
//	sequential  calls one after another in topological order (latency = sum)
//	staged      each dependency level gathered concurrently, then the next
//	concurrent  each call starts the moment its inputs exist (critical path)
//	pool        at most N calls at once per Executor, the others queue for a slot
//	blocking    concurrent, but every backend call holds one lock (the pitfall)
//
// Sequential and staged have loops of their own. Concurrent, pool and
// blocking are one graph runner: each call starts once its inputs exist and
// passes through the mode's gate before its Doer. A gate is a small unexported
// policy on every call's path, allocation-free: concurrent has none, pool's
// has N slots, first come first served, and withdraws a waiting call when its
// context ends (the deadline, or the abort below), and blocking's is one lock
// whose wait ignores the context, which is the pitfall it shows.
//
// Policies that act on the backend call itself (a retry, a hedged request, a
// per-backend circuit breaker, coalescing or caching equal calls) have one
// shape, Policy, in the manner of lura's Proxy: Do(ctx, call, path, next),
// where next (a Next) is the rest of the call's way, its following policies
// and then the gateway's Doer. A PolicyDoer binds each call of a plan to its
// own policies, outermost first, and the engine passes every attempt of the
// call through them, allocation-free; Chain composes them by hand. The
// engine knows no policy by name: the gateway's registry builds them from
// the calls' declarations (CallSpec.Policies). Extra attempts (hedged
// duplicates, retries) draw on a Budget.
//
// A required call (not CallSpec.Optional) that fails, answers a non-2xx
// status or cannot be sent decides the request, so by default it ends the
// run: the context of the calls in flight is cancelled (but the primary's,
// whose answer may still decide the status), no call is sent
// afterwards, and the calls cut short get an *AbortError (ErrAborted) naming
// it. Options.RunAll keeps every call going for a caller that wants every
// Outcome.
//
// The package imports no HTTP server or client: the gateway adapts its backend
// client to a Doer and its request to Params.
package fanout
