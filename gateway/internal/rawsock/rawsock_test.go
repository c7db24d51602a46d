package rawsock_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/internal/rawsock"
)

// pair returns the two ends of a loopback TCP connection: the dialled end
// and the accepted one, closed when the test ends.
func pair(t testing.TB) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// raw is rawsock.New(c), which must reach a TCP connection's socket.
func raw(t testing.TB, c net.Conn) *rawsock.Conn {
	t.Helper()
	s := rawsock.New(c)
	if s == nil {
		t.Skip("rawsock does not reach sockets on " + runtime.GOOS)
	}
	return s
}

// TestReadWriteLarge: 8 MB each way at once, far more than a socket's
// buffers, so that writes fill the socket and wait for the poller, and
// reads come in pieces of every size: every byte arrives, in order.
func TestReadWriteLarge(t *testing.T) {
	a, b := pair(t)
	ra, rb := raw(t, a), raw(t, b)
	out := make([]byte, 8<<20)
	for i := range out {
		out[i] = byte(rand.Uint32())
	}
	type got struct {
		b   []byte
		err error
	}
	readAll := func(s *rawsock.Conn, n int) chan got {
		ch := make(chan got, 1)
		go func() {
			var in []byte
			buf := make([]byte, 1+rand.IntN(70000))
			for len(in) < n {
				k, err := s.Read(buf[:1+rand.IntN(len(buf))])
				in = append(in, buf[:k]...)
				if err != nil {
					ch <- got{in, err}
					return
				}
			}
			ch <- got{in, nil}
		}()
		return ch
	}
	toB, toA := readAll(rb, len(out)), readAll(ra, len(out))
	wrote := make(chan error, 2)
	for _, w := range []*rawsock.Conn{ra, rb} {
		go func() {
			n, err := w.Write(out)
			if err == nil && n != len(out) {
				err = errors.New("short write without an error")
			}
			wrote <- err
		}()
	}
	for range 2 {
		if err := <-wrote; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	for _, ch := range []chan got{toB, toA} {
		g := <-ch
		if g.err != nil || !bytes.Equal(g.b, out) {
			t.Fatalf("read %d of %d bytes, equal %v, error %v", len(g.b), len(out), bytes.Equal(g.b, out), g.err)
		}
	}
}

// TestEndOfStream: once the peer has closed, a Read gets what was sent,
// then io.EOF, as net.Conn's does.
func TestEndOfStream(t *testing.T) {
	a, b := pair(t)
	if _, err := a.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	rb := raw(t, b)
	got, err := io.ReadAll(readerFunc(rb.Read))
	if err != nil || string(got) != "last words" {
		t.Fatalf("read %q, error %v", got, err)
	}
	if n, err := rb.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("after the end: %d, %v; want 0, io.EOF", n, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// TestDeadlines: a Read with nothing to read, and a Write to a peer that
// reads nothing, end at their deadlines with the errors net.Conn gives: a
// timeout that wraps os.ErrDeadlineExceeded, named for the call.
func TestDeadlines(t *testing.T) {
	a, b := pair(t)
	ra := raw(t, a)
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := ra.Read(make([]byte, 8))
	checkTimeout(t, "read", err)

	big := make([]byte, 64<<20) // more than both ends' buffers hold
	a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := ra.Write(big)
	checkTimeout(t, "write", err)
	if n >= len(big) {
		t.Errorf("wrote all %d bytes to a peer that reads nothing", n)
	}
	_ = b
}

func checkTimeout(t *testing.T, op string, err error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || !oe.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s past its deadline: %v (%T), want a *net.OpError %q that is a timeout", op, err, err, op)
	}
}

// TestClosed: reading or writing a closed connection is net.ErrClosed.
func TestClosed(t *testing.T) {
	a, _ := pair(t)
	ra := raw(t, a)
	a.Close()
	if _, err := ra.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := ra.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
}

// TestReset: a peer that resets the connection gives the system's error,
// as an *net.OpError wrapping an *os.SyscallError, as net.Conn does.
func TestReset(t *testing.T) {
	a, b := pair(t)
	ra := raw(t, a)
	b.SetLinger(0) // close with a reset
	b.Close()
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		// The reset arrives after the close returns; a write before it
		// succeeds.
		_, err = ra.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	var se *os.SyscallError
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) || !errors.As(err, &oe) || oe.Op != "write" || !errors.As(err, &se) {
		t.Fatalf("write after a reset: %v (%T)", err, err)
	}
	if oe.Addr == nil || oe.Source == nil {
		t.Errorf("the error names no addresses: %v", err)
	}
}

// TestNotASocket: a connection without a socket is left to itself.
func TestNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rawsock.New(a) != nil {
		t.Error("New reached a socket in net.Pipe")
	}
	if rawsock.Wrap(a) != a {
		t.Error("Wrap changed a connection it cannot reach")
	}
}

// TestWrapAndListen: a connection accepted from Listen, and one wrapped
// by Wrap, carry bytes both ways and keep the rest of net.Conn.
func TestWrapAndListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rl := rawsock.Listen(ln)
	done := make(chan error, 1)
	go func() {
		s, err := rl.Accept()
		if err != nil {
			done <- err
			return
		}
		defer s.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil {
			done <- err
			return
		}
		_, err = s.Write(append(buf, '!'))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := rawsock.Wrap(c)
	defer w.Close()
	if _, ok := w.(*net.TCPConn); ok {
		t.Fatal("Wrap returned the TCP connection itself")
	}
	if w.RemoteAddr().String() != ln.Addr().String() {
		t.Errorf("remote address %v, want %v", w.RemoteAddr(), ln.Addr())
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(w, got); err != nil || string(got) != "hello!" {
		t.Fatalf("read %q, %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNoAllocation: a write and the read of it allocate nothing.
func TestNoAllocation(t *testing.T) {
	a, b := pair(t)
	ra, rb := raw(t, a), raw(t, b)
	msg, buf := []byte("ping"), make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := ra.Write(msg); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(msg); {
			n, err := rb.Read(buf[got:len(msg)])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations a write and read, want 0", allocs)
	}
}
