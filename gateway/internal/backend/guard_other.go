//go:build !linux

package backend

// peek is not implemented outside Linux: a connection is reused unchecked,
// as fasthttp does.
func (g *guardedConn) peek(fd uintptr) bool {
	g.peekErr = nil
	return true
}

func peekSpoke(err error) bool { return false }
