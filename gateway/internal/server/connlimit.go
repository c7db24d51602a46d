package server

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// connLimit is a listener that serves at most max connections at once. A
// connection beyond the limit is answered 503 with a problem body and
// closed at once, without a goroutine: a client is told rather than left
// waiting, and a flood of connections costs the gateway nothing more.
// (fasthttp's own Concurrency limit answers in plain text.)
type connLimit struct {
	net.Listener
	slots   chan struct{}
	refusal []byte
}

// refusalWriteTimeout bounds writing the 503 to a refused connection.
const refusalWriteTimeout = time.Second

func limitConns(ln net.Listener, max int) *connLimit {
	p := problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
		fmt.Sprintf("the gateway is serving its maximum of %d connections; retry later", max))
	body, _ := json.Marshal(p) // a Problem holds only strings and ints
	head := fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: %s\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
		problem.ContentType, len(body))
	return &connLimit{Listener: ln, slots: make(chan struct{}, max), refusal: append([]byte(head), body...)}
}

// Accept returns the next connection within the limit, refusing those
// beyond it.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, limit: l}, nil
		default:
			_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
			_, _ = c.Write(l.refusal)
			_ = c.Close()
		}
	}
}

// limitedConn frees its slot when closed.
type limitedConn struct {
	net.Conn
	limit *connLimit
	once  sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.limit.slots })
	return err
}
