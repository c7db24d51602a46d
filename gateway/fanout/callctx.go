package fanout

import "context"

// specKey is the context key of the spec of the call a Doer performs.
type specKey struct{}

// withSpec returns ctx carrying the spec of the call about to be made.
// The engine adds it only to calls that declare a policy a middleware
// reads (CallSpec.Retry), so that a plain call costs no context.
func withSpec(ctx context.Context, s *CallSpec) context.Context {
	return context.WithValue(ctx, specKey{}, s)
}

// SpecOf returns the spec of the call a Doer was handed ctx for, if the
// call declares a policy that middleware applies (CallSpec.Retry); false
// for any other call. The spec is the Plan's: read-only.
func SpecOf(ctx context.Context) (*CallSpec, bool) {
	s, ok := ctx.Value(specKey{}).(*CallSpec)
	return s, ok
}
