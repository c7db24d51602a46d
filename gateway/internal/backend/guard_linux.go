package backend

import (
	"errors"
	"syscall"
)

// peek looks at the socket without consuming or waiting: the number of
// bytes waiting (0 at end of stream) or -1 with the error.
func (g *guardedConn) peek(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	g.peeked, g.peekErr = n, err
	return true
}

// peekSpoke reads a peek: nothing waiting (EAGAIN) is silence; bytes, the
// end of the stream or an error mean the connection must not be reused.
func peekSpoke(n int, err error) bool {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return false
	}
	return true
}
