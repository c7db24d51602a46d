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
//	pool        calls queue for one of N worker goroutines per Executor
//	blocking    concurrent, but every backend call holds one lock (the pitfall)
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
