//go:build !linux

package backend

// peek is not implemented outside Linux: a connection is reused unchecked,
// as fasthttp does.
func (g *guardedConn) peek(fd uintptr) bool {
	g.peeked, g.peekErr = -1, nil
	return true
}

func peekSpoke(n int, err error) bool { return false }
