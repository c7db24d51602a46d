package rawsock

import (
	"syscall"
	"unsafe"
)

const supported = true

// read is one read of the socket: false asks the poller to wait until it
// is readable (EAGAIN), true ends the Read with what it got.
func (s *Conn) read(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rb[0])), uintptr(min(len(s.rb), maxRW)))
		switch errno {
		case 0:
			s.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rerrno = errno
		return true
	}
}

// write writes what is left of the Write's bytes: false asks the poller
// to wait until the socket takes more (EAGAIN), true ends the Write, all
// written or failed.
func (s *Conn) write(fd uintptr) bool {
	for s.wn < len(s.wb) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wb[s.wn])), uintptr(min(len(s.wb)-s.wn, maxRW)))
		switch errno {
		case 0:
			if n == 0 {
				s.short = true // a socket takes at least a byte, or says EAGAIN
				return true
			}
			s.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werrno = errno
			return true
		}
	}
	return true
}

// maxRW bounds one read or write, as Go's poller does.
const maxRW = 1 << 30
