// Package rawsock reads and writes a TCP connection's socket with raw
// system calls, in Go's network poller all the same.
//
// A Go program reads and writes a socket through the scheduler: each call
// enters and leaves a system call (entersyscall, exitsyscall), so that the
// runtime may hand the processor to another thread if the call blocks.
// The network poller's sockets never block: a read or write returns at
// once, with bytes or EAGAIN. Yet the runtime's monitor thread (sysmon)
// takes back the processor of any call that is still in the kernel at
// its next tick, 20 µs at its busiest, and starts another thread to run
// it: on a gateway pinned to one CPU at 500 pages a second, that hand-off
// and the wake-ups of the monitor it causes were the futex and nanosleep
// calls of the profile, about as many as the page's reads and writes.
//
// A Conn does the same reads and writes as a raw system call from within
// the poller (syscall.RawConn): a call that would block (EAGAIN) waits for
// the socket as the poller always does, deadlines included; the others
// leave the processor where it is. A loopback write, which hands the bytes
// to the receiver's protocol stack in the writer's own time, is the
// longest of them: a few microseconds.
package rawsock

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Conn reads and writes one connection's socket with raw system calls. At
// most one Read and one Write may run at a time (one goroutine reading,
// one writing); a Conn is not safe for concurrent Reads, nor for
// concurrent Writes.
type Conn struct {
	c   net.Conn
	raw syscall.RawConn

	rb     []byte // the Read in progress
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool // c.read, bound once: a Read does not allocate

	wb      []byte // the Write in progress
	wn      int
	werrno  syscall.Errno
	short   bool // a write took no byte
	writeFn func(fd uintptr) bool
}

// New returns a Conn for c, or nil if c's socket cannot be reached (it is
// not a TCP connection, or the platform is not Linux): the caller then
// reads and writes c itself.
func New(c net.Conn) *Conn {
	if !supported {
		return nil
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &Conn{c: c, raw: raw}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

// Read reads into b as net.Conn's Read does, with its errors: io.EOF at
// the end of the stream, an *net.OpError otherwise (a deadline's wraps
// os.ErrDeadlineExceeded).
func (s *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.rb, s.rn, s.rerrno = b, 0, 0
	err := s.raw.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rb = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b as net.Conn's Write does, waiting for the socket
// as often as it is full; n is what was written before an error.
func (s *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.wb, s.wn, s.werrno, s.short = b, 0, 0, false
	err := s.raw.Write(s.writeFn)
	n, errno := s.wn, s.werrno
	s.wb = nil
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	case s.short:
		return n, s.opError("write", io.ErrUnexpectedEOF)
	}
	return n, nil
}

// opError wraps err as net.Conn's Read and Write do. The poller's own
// errors (a deadline, a closed connection) come from RawConn already
// wrapped, with its operation's name: they get the name of the call.
func (s *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}

// ReadWriter returns what reads and writes c: a Conn where New reaches
// its socket, else c itself.
func ReadWriter(c net.Conn) io.ReadWriter {
	if s := New(c); s != nil {
		return s
	}
	return c
}

// wrapped is a net.Conn read and written through a Conn.
type wrapped struct {
	net.Conn
	s *Conn
}

func (w *wrapped) Read(b []byte) (int, error)  { return w.s.Read(b) }
func (w *wrapped) Write(b []byte) (int, error) { return w.s.Write(b) }

// Wrap returns c read and written with raw system calls, or c itself where
// New cannot reach its socket. Like a Conn, it takes one reader and one
// writer at a time.
func Wrap(c net.Conn) net.Conn {
	if s := New(c); s != nil {
		return &wrapped{Conn: c, s: s}
	}
	return c
}

// listener wraps every connection it accepts.
type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// Listen wraps ln: the connections it accepts are read and written with
// raw system calls (Wrap).
func Listen(ln net.Listener) net.Listener { return listener{ln} }
