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

// connLimit is a listener that serves at most max connections at once, and
// at most perIP from one client address (0: no such limit). A connection
// beyond a limit is answered (503, or 429 for one address) with a problem
// body and closed at once, without a goroutine: a client is told rather
// than left waiting, and a flood of connections costs the gateway nothing
// more. (fasthttp's own limits answer in plain text.)
type connLimit struct {
	net.Listener
	slots         chan struct{}
	perIP         int
	full, tooMany []byte // the refusals, whole HTTP responses

	mu   sync.Mutex
	byIP map[string]int
}

// refusalWriteTimeout bounds writing a refusal to a connection.
const refusalWriteTimeout = time.Second

func limitConns(ln net.Listener, max, perIP int) *connLimit {
	return &connLimit{
		Listener: ln,
		slots:    make(chan struct{}, max),
		perIP:    perIP,
		byIP:     map[string]int{},
		full: refusal(problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			fmt.Sprintf("the gateway is serving its maximum of %d connections; retry later", max))),
		tooMany: refusal(problem.New(problem.TypeTooManyConnections, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the gateway serves at most %d connections from one address", perIP))),
	}
}

func refusal(p problem.Problem) []byte {
	body, _ := json.Marshal(p) // a Problem holds only strings and ints
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
		p.Status, fasthttp.StatusMessage(p.Status), problem.ContentType, len(body))
	return append([]byte(head), body...)
}

// Accept returns the next connection within the limits, refusing those
// beyond them.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := ""
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && l.perIP > 0 {
			ip = a.IP.String()
		}
		if !l.acquireIP(ip) {
			refuse(c, l.tooMany)
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, limit: l, ip: ip}, nil
		default:
			l.releaseIP(ip)
			refuse(c, l.full)
		}
	}
}

func refuse(c net.Conn, answer []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	_, _ = c.Write(answer)
	_ = c.Close()
}

// acquireIP counts one more connection from ip ("" is not counted), unless
// that would pass the limit.
func (l *connLimit) acquireIP(ip string) bool {
	if ip == "" {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip] >= l.perIP {
		return false
	}
	l.byIP[ip]++
	return true
}

func (l *connLimit) releaseIP(ip string) {
	if ip == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// limitedConn frees its slot and its address's count when closed.
type limitedConn struct {
	net.Conn
	limit *connLimit
	ip    string
	once  sync.Once
}

// inner returns the connection as the listener accepted it, for the
// client watch (disconnect.go), which needs the TCP socket.
func (c *limitedConn) inner() net.Conn { return c.Conn }

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.limit.releaseIP(c.ip)
		<-c.limit.slots
	})
	return err
}
