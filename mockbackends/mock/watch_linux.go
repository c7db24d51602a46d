package mock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// canPeek says that this platform can watch a client's socket.
const canPeek = true

// peek looks at the socket without consuming or waiting: false parks until
// it is readable; true once the verdict is in (left on end of file or an
// error, not on a pipelined byte).
func (w *clientWatch) peek(fd uintptr) bool {
	var b [1]byte
	for {
		// recvfrom(2) without an address, which unix.Recvfrom would
		// allocate on every request.
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN {
			return false
		}
		w.left = errno != 0 || n == 0
		return true
	}
}
