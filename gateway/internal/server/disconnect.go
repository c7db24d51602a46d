package server

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// A clientWatch notices, while a request is fanned out, that its client has
// gone, and cancels the request's context so that the calls not sent yet are
// never sent: nobody would read their answers. fasthttp gives a handler no
// such signal (RequestCtx.Done is the server's shutdown), so the watch asks
// the kernel: one goroutine parks in the netpoller until the client's socket
// turns readable, then peeks at it without consuming anything. End of file
// or an error means the client is gone; a byte means it pipelined its next
// request, which fasthttp will read, so the watch ends without a verdict.
// A client that shuts down its sending side after the request and still
// reads is taken for gone, as net/http's server takes it; few HTTP clients
// do that.
//
// The watch must end before the handler returns, since fasthttp reads the
// next request from the same connection: stop wakes the goroutine with a read
// deadline in the past and waits for it. Watches are pooled, so a request
// costs one goroutine start and no channel.
type clientWatch struct {
	conn   net.Conn        // the client's TCP connection
	rc     syscall.RawConn // conn's descriptor
	cancel context.CancelFunc
	peekFn func(fd uintptr) bool // w.peek, bound once per pooled watch
	ended  chan struct{}         // receives once when the goroutine ends; buffered
	gone   bool                  // the verdict, read after ended
}

var watches = sync.Pool{New: func() any {
	w := &clientWatch{ended: make(chan struct{}, 1)}
	w.peekFn = w.peek
	return w
}}

// longAgo is a read deadline in the past, which wakes a parked read at once.
var longAgo = time.Unix(1, 0)

// watchClient starts watching the client of ctx, and calls cancel if it goes
// away before stop. It returns nil where it cannot watch (a connection that
// is not TCP, such as the in-memory listeners of tests, or a platform
// without canPeek); stop on nil does nothing.
func watchClient(ctx *fasthttp.RequestCtx, cancel context.CancelFunc) *clientWatch {
	if !canPeek {
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
	w := watches.Get().(*clientWatch)
	w.conn, w.rc, w.cancel, w.gone = tc, rc, cancel, false
	go w.run()
	return w
}

// run parks until the socket is readable, or stop's deadline, and cancels
// the request if the client is gone.
func (w *clientWatch) run() {
	// Read returns once peek does, or with the deadline's (or a closed
	// connection's) error, which needs no action.
	_ = w.rc.Read(w.peekFn)
	if w.gone {
		w.cancel()
	}
	w.ended <- struct{}{}
}

// stop ends the watch and waits for its goroutine, then gives the
// connection back to fasthttp without a read deadline: fasthttp sets its own
// (ReadTimeout, or IdleTimeout between keep-alive requests) before it reads
// the next request, at the top of its connection loop, which runs only after
// the handler has returned.
func (w *clientWatch) stop() {
	if w == nil {
		return
	}
	_ = w.conn.SetReadDeadline(longAgo)
	<-w.ended
	_ = w.conn.SetReadDeadline(time.Time{})
	w.conn, w.rc, w.cancel = nil, nil, nil
	watches.Put(w)
}
