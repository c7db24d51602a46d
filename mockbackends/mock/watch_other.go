//go:build !linux

package mock

// canPeek says that this platform cannot watch a client's socket: a client's
// departure goes unnoticed until the latency has passed, as fasthttp alone
// would have it.
const canPeek = false

// peek is never called where canPeek is false.
func (w *clientWatch) peek(uintptr) bool { return true }
