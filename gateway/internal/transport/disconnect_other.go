//go:build !linux

package transport

import "context"

// canWatch says that this platform cannot watch a client's socket: the
// gateway targets Linux, and elsewhere a client's departure goes unnoticed
// until the response is written.
const canWatch = false

// clientWatcher is never used where canWatch is false.
var clientWatcher watcher

// A watcher is a stand-in where canWatch is false.
type watcher struct{}

// A watchToken is a stand-in where canWatch is false.
type watchToken struct{ idx, gen uint32 }

func (watcher) reserve(context.CancelFunc) watchToken   { return watchToken{} }
func (watcher) release(watchToken)                      {}
func (watcher) add(uintptr, watchToken) bool            { return false }
func (watcher) arm(watchToken, context.CancelFunc) bool { return false }
func (watcher) disarm(watchToken)                       {}
