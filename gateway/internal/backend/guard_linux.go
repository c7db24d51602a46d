package backend

import (
	"errors"
	"syscall"
)

// peek looks at the socket without consuming or waiting, and keeps the
// error: EAGAIN when nothing is waiting, nil for bytes or the end of stream.
func (g *guardedConn) peek(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	g.peekErr = err
	return true
}

// peekSpoke reads a peek: nothing waiting (EAGAIN) is silence; bytes, the
// end of the stream or an error mean the connection must not be reused.
func peekSpoke(err error) bool {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return false
	}
	return true
}
