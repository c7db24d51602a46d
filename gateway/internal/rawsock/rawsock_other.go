//go:build !linux

package rawsock

const supported = false

func (s *Conn) read(fd uintptr) bool  { panic("rawsock: not supported") }
func (s *Conn) write(fd uintptr) bool { panic("rawsock: not supported") }
