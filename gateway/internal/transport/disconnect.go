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
// closed, shut down its sending side, or reset); a connection of the
// gateway's listener costs one system call, at its first watch, and a
// request none, only a slot to name the request to cancel, and no
// goroutine, since a goroutine per request, its park in the netpoller and
// the deadline that woke it cost the gateway a few per cent of its CPU (a
// system call per request cost it 1 %). Bytes the client sends
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
// its watch (but the RawConn of a connection's first).
type ClientWatch struct {
	token watchToken       // the watcher's name for this watch
	ok    bool             // whether the watcher holds the socket
	conn  bool             // token is its connection's slot, which Stop keeps
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
	if l, ok := ctx.Conn().(*limitedConn); ok {
		return l.watchClient(cancel)
	}
	return register(ctx.Conn(), cancel)
}

// register registers the socket of c, if it is TCP, with the watcher
// under a new slot that calls cancel, nil if none: a watch whose Stop
// frees the slot.
func register(c net.Conn, cancel context.CancelFunc) *ClientWatch {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := watches.Get().(*ClientWatch)
	w.ok, w.conn = false, false
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

// watchClosed is limitedConn.watch once the connection is closed: no slot
// is registered for it any more.
const watchClosed = ^uint64(0)

func (t watchToken) pack() uint64     { return uint64(t.idx)<<32 | uint64(t.gen) }
func unpackToken(v uint64) watchToken { return watchToken{idx: uint32(v >> 32), gen: uint32(v)} }

// watchClient is WatchClient on a connection of the gateway's listener:
// its first watch registers the socket under a slot of its own, kept
// until the connection is closed (closeWatch); every watch arms it with
// cancel. A slot's generation is never 0, so a packed token never is.
func (c *limitedConn) watchClient(cancel context.CancelFunc) *ClientWatch {
	v := c.watch.Load()
	if v == watchClosed {
		return nil
	}
	var w *ClientWatch
	if v == 0 {
		if w = register(c.inner(), nil); w == nil {
			return nil
		}
		if !c.watch.CompareAndSwap(0, w.token.pack()) {
			// Closed meanwhile.
			clientWatcher.release(w.token)
			watches.Put(w)
			return nil
		}
		v = w.token.pack()
	} else {
		w = watches.Get().(*ClientWatch)
	}
	w.token, w.conn = unpackToken(v), true
	if !clientWatcher.arm(w.token, cancel) {
		watches.Put(w)
		return nil
	}
	return w
}

// closeWatch frees the connection's slot, if it has one, once it is
// closed.
func (c *limitedConn) closeWatch() {
	if v := c.watch.Swap(watchClosed); v != 0 && v != watchClosed {
		clientWatcher.release(unpackToken(v))
	}
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
	if w.conn {
		clientWatcher.disarm(w.token)
	} else {
		clientWatcher.release(w.token)
	}
	watches.Put(w)
}
