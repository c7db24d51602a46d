package backend

import (
	"syscall"
	"unsafe"
)

// peek looks at the socket without consuming or waiting, and keeps the
// error number: EAGAIN when nothing is waiting, 0 for bytes or the end of
// the stream.
//
// It is a raw system call: with MSG_DONTWAIT it never blocks, so the
// scheduler need not be told (syscall.Recvfrom's entersyscall and
// exitsyscall), which on an otherwise idle gateway also wakes the
// runtime's monitor thread (sysmon) from its sleep: a peek per backend
// call cost the gateway about 3 % of its CPU per results page that way.
func (g *guardedConn) peek(fd uintptr) bool {
	var b [1]byte
	_, _, g.peekErr = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return true
}

// peekSpoke reads a peek: nothing waiting (EAGAIN) is silence; bytes, the
// end of the stream or an error mean the connection must not be reused.
func peekSpoke(errno syscall.Errno) bool {
	return errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}
