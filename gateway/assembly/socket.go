package assembly

import (
	"net"

	"fanout/gateway/internal/rawsock"
)

// WrapConn returns c read and written as the gateway reads and writes its
// own sockets: with raw system calls from within Go's network poller
// (see gateway/internal/rawsock), which spares the scheduler's hand-offs
// of a system call. The bench's CPU floor reads and writes its sockets so,
// so that its CPU per page stays the limit of a gateway's: what the
// gateway costs beyond it is the code it runs, not how it reaches the
// kernel.
func WrapConn(c net.Conn) net.Conn { return rawsock.Wrap(c) }

// WrapListener returns ln with every connection it accepts wrapped as by
// WrapConn.
func WrapListener(ln net.Listener) net.Listener { return rawsock.Listen(ln) }
