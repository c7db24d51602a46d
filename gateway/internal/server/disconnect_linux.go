package server

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// canPeek says that this platform can watch a client's socket.
const canPeek = true

// peek looks at the socket without consuming or waiting. It returns false
// to park until the socket is readable, and true once the verdict is in:
// gone on end of file (the client closed) or an error (ECONNRESET: it
// reset), not gone on data (a pipelined request, left for fasthttp).
func (w *clientWatch) peek(fd uintptr) bool {
	var b [1]byte
	for {
		// recvfrom(2) without an address: unix.Recvfrom would allocate one
		// per call, on every fanned-out request.
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return false
		case errno != 0, n == 0:
			w.gone = true
		}
		return true
	}
}
