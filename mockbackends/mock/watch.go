package mock

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// A clientWatch tells a request's latency wait that its client has gone, as
// a net/http backend's request context would: a gateway that gave the call
// up closes the connection, and a real service would stop working for
// nobody. A fasthttp handler gets no such signal, so one goroutine parks in
// the netpoller until the client's socket turns readable, then peeks at it
// without consuming: end of file or an error means gone; a byte (a
// pipelined request, which fasthttp will read) ends the watch without a
// verdict. The gateway's server watches its own clients the same way; the
// two cannot share the code, since the mocks may not import the gateway.
//
// The watch must end before the handler returns, since fasthttp reads the
// next request from the same connection: stop wakes the goroutine with a
// read deadline in the past and waits for it. Watches are pooled.
type clientWatch struct {
	conn   *net.TCPConn
	rc     syscall.RawConn
	peekFn func(fd uintptr) bool // w.peek, bound once per pooled watch
	gone   chan struct{}         // receives once if the client goes; buffered
	ended  chan struct{}         // receives once when the goroutine ends; buffered
	left   bool                  // the verdict, set by peek
}

var watches = sync.Pool{New: func() any {
	w := &clientWatch{gone: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	w.peekFn = w.peek
	return w
}}

// longAgo is a read deadline in the past, which wakes a parked read at once.
var longAgo = time.Unix(1, 0)

// watchClient starts watching conn's peer. It returns nil where it cannot
// watch (not a TCP connection, or a platform without canPeek); a nil watch
// never reports the client gone, and stop on it does nothing.
func watchClient(conn net.Conn) *clientWatch {
	tc, ok := conn.(*net.TCPConn)
	if !canPeek || !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := watches.Get().(*clientWatch)
	w.conn, w.rc, w.left = tc, rc, false
	go w.run()
	return w
}

// done is the channel that receives when the client has gone; nil (never
// ready) for a nil watch.
func (w *clientWatch) done() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.gone
}

func (w *clientWatch) run() {
	// Read returns once peek has a verdict, or with the deadline's (or a
	// closed connection's) error, which needs no action.
	_ = w.rc.Read(w.peekFn)
	if w.left {
		w.gone <- struct{}{}
	}
	w.ended <- struct{}{}
}

// stop ends the watch, waits for its goroutine and reports whether the
// client had gone. It leaves the connection without a read deadline:
// fasthttp sets its own before it reads the next request.
func (w *clientWatch) stop() bool {
	if w == nil {
		return false
	}
	_ = w.conn.SetReadDeadline(longAgo)
	<-w.ended
	_ = w.conn.SetReadDeadline(time.Time{})
	left := w.left
	// The goroutine has ended, so a verdict was sent before: drain it if
	// the latency wait did not take it.
	select {
	case <-w.gone:
	default:
	}
	w.conn, w.rc = nil, nil
	watches.Put(w)
	return left
}
