//go:build !linux

package backend

import "syscall"

// peek is not implemented outside Linux: a connection is reused unchecked,
// as fasthttp does.
func (g *guardedConn) peek(fd uintptr) bool {
	g.peekErr = 0
	return true
}

func peekSpoke(syscall.Errno) bool { return false }
