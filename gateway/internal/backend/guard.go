package backend

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"fanout/gateway/internal/rawsock"
)

// errUnsolicited is the error of a request about to be written on a pooled
// connection on which the backend sent bytes, or closed, while no request
// was in flight. Nothing was written, so the request is retried on another
// connection whatever its method.
var errUnsolicited = errors.New("unsolicited response on idle backend connection")

// guardedConn is a backend connection that refuses to carry a new request
// once the backend has spoken out of turn. fasthttp's HostClient reuses a
// kept-alive connection without looking at it, so a second response that a
// backend wrote after the first (a bug, or a hostile backend) would be read
// as the answer to the next, unrelated request: one client would get
// another's data. Go's net/http closes such a connection ("unsolicited
// response on idle HTTP channel"); this does the same by peeking, without
// consuming, when a request starts on a connection that has already
// carried one.
//
// Like net/http's, the guard sees only bytes that arrived before the next
// request was written: a stray answer that is still on its way when a
// request goes out on the same connection is read as that request's answer,
// since HTTP/1.1 does not say which request an answer is for. Measured with
// a backend writing each answer twice back to back and 8 callers over 4
// connections, 2 to 10 of 2000 calls still got a stray answer (3 to 32
// without the guard); with the stray answer in before the next request, as
// when the next client comes a moment later, none.
//
// A stray answer that the guard could not see, read as a request's answer,
// is found by the gateway's check of the answer's identity: the Exchange
// then disowns the connection that carried it, which refuses the next
// request as if the backend had spoken (errUnsolicited), so that the
// request goes on another connection and the connection is closed.
//
// fasthttp uses a connection from one goroutine at a time, so the fields
// but disowned need no lock; disowned is set from the goroutine of the
// call that found the stray answer, while the connection may already
// carry another call.
type guardedConn struct {
	net.Conn
	disowned atomic.Bool           // a stray answer came on it: it carries no more requests
	raw      syscall.RawConn       // nil: the connection cannot be peeked at (in-memory)
	answer   bool                  // a response was read since the last request was written
	peekErr  syscall.Errno         // the last peek's error number: 0 if bytes or the end of the stream were waiting
	peekFn   func(fd uintptr) bool // g.peek, bound once so a peek does not allocate
	rw       io.ReadWriter         // reads and writes the socket: raw system calls (rawsock) where it can
}

func guard(c net.Conn) net.Conn {
	g := &guardedConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			g.raw = raw
			g.peekFn = g.peek
		}
	}
	g.rw = rawsock.ReadWriter(c)
	return g
}

// Read notes that an answer is being read.
func (g *guardedConn) Read(b []byte) (int, error) {
	n, err := g.rw.Read(b)
	if n > 0 {
		g.answer = true
	}
	return n, err
}

// Write starts a request: if the connection carried an answer before, it
// first checks that nothing arrived since.
func (g *guardedConn) Write(b []byte) (int, error) {
	if g.disowned.Load() {
		_ = g.Conn.Close()
		return 0, errUnsolicited
	}
	if g.answer {
		g.answer = false
		if g.spoke() {
			_ = g.Conn.Close()
			return 0, errUnsolicited
		}
	}
	return g.rw.Write(b)
}

// spoke reports whether the backend sent bytes or closed its end while the
// connection was idle.
func (g *guardedConn) spoke() bool {
	if g.raw == nil {
		return false
	}
	if err := g.raw.Read(g.peekFn); err != nil {
		return true
	}
	return peekSpoke(g.peekErr)
}
