package server

import "golang.org/x/sys/unix"

// canPeek says that this platform can watch a client's socket.
const canPeek = true

// peek looks at the socket without consuming or waiting. It returns false
// to park until the socket is readable, and true once the verdict is in:
// gone on end of file (the client closed) or an error (ECONNRESET: it
// reset), not gone on data (a pipelined request, left for fasthttp).
func (w *clientWatch) peek(fd uintptr) bool {
	var b [1]byte
	for {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil, n == 0:
			w.gone = true
		}
		return true
	}
}
