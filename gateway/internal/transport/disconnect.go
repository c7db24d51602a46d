// Package transport is the gateway's HTTP transport, beneath its API: the
// listener that bounds client connections and inspects the bytes of their
// request heads (connlimit.go, front.go), the memory budget of request
// bodies (bodybudget.go), the watch for a client that goes away
// (disconnect.go) and request ids (requestid.go). It knows the fasthttp
// server and problem+json, and no operation of the API.
package transport

import (
	"context"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// A ClientWatch notices, while a request is fanned out, that its client has
// gone, and cancels the request's context so that the calls not sent yet are
// never sent: nobody would read their answers. fasthttp gives a handler no
// such signal (RequestCtx.Done is the server's shutdown), so the watch asks
// the kernel. One process-wide watcher (disconnect_linux.go) holds the
// sockets of the gateway's clients and is told when a peer hangs up (it
// closed, shut down its sending side, or reset); a request costs one system
// call, which names the request to be cancelled, and no goroutine, since a
// goroutine per request, its park in the netpoller and the deadline that
// woke it cost the gateway a few per cent of its CPU. Bytes the client sends
// meanwhile (a pipelined request) are no hang-up: the watcher leaves them
// for fasthttp. A client that shuts down its sending side after the request
// and still reads is taken for gone, as net/http's server takes it; few HTTP
// clients do that. A request whose client is gone gets no answer and is
// counted as the client's leaving, not as its calls' failure (the server's
// clientGone).
//
// The watch must end before the handler returns: after Stop, the socket
// stays with the watcher (the kernel forgets it when the connection is
// closed), but a hang-up no longer cancels anything until the connection's
// next watch. Watches are pooled, so that a request allocates nothing for
// its watch but the connection's RawConn.
type ClientWatch struct {
	token watchToken       // the watcher's name for this watch
	ok    bool             // whether the watcher holds the socket
	addFn func(fd uintptr) // w.add, bound once per pooled watch
}

var watches = sync.Pool{New: func() any {
	w := &ClientWatch{}
	w.addFn = w.add
	return w
}}

// WatchClient starts watching the client of ctx, and calls cancel if it goes
// away before Stop. It returns nil where it cannot watch (a connection that
// is not TCP, such as the in-memory listeners of tests, or a platform
// without a watcher); Stop on nil does nothing.
func WatchClient(ctx *fasthttp.RequestCtx, cancel context.CancelFunc) *ClientWatch {
	if !canWatch {
		return nil
	}
	c := ctx.Conn()
	if l, ok := c.(*limitedConn); ok {
		c = l.inner()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := watches.Get().(*ClientWatch)
	w.ok = false
	w.token = clientWatcher.reserve(cancel)
	// Control runs add while the descriptor is sure to be this
	// connection's, and does not run it if the connection is closed.
	if err := rc.Control(w.addFn); err != nil || !w.ok {
		clientWatcher.release(w.token)
		watches.Put(w)
		return nil
	}
	return w
}

// add hands the socket to the watcher.
func (w *ClientWatch) add(fd uintptr) { w.ok = clientWatcher.add(fd, w.token) }

// Stop ends the watch: once it returns, the watcher never cancels the
// request. It leaves the connection as it was (no deadline, no byte read)
// for fasthttp's next read.
func (w *ClientWatch) Stop() {
	if w == nil {
		return
	}
	clientWatcher.release(w.token)
	watches.Put(w)
}
