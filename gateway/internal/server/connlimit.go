package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// connLimit is a listener that serves at most max connections at once, and
// at most perIP from one client address (0: no such limit). When every slot
// is taken, a new connection takes the slot of the connection that has been
// idle between requests the longest, which is closed, as nginx does: idle
// keep-alive connections cost a slot each, and a client holding many of them
// must not lock everyone else out until the idle timeout. An address at its
// share likewise gives way with its own longest idle connection. Only when
// no connection is idle is a new one refused. A connection beyond a limit is
// answered (503, or 429 for one address) with a problem body and closed at
// once, without a goroutine: a client is told rather than left waiting, and
// a flood of connections costs the gateway nothing more. (fasthttp's own
// limits answer in plain text.)
type connLimit struct {
	net.Listener
	slots         chan struct{}
	perIP         int
	maxLine       int              // the header size limit, for front
	onRefused     func(status int) // called when front refuses a request
	full, tooMany []byte           // the refusals, whole HTTP responses
	shutdown      []byte           // the answer to a request cut by a shutdown
	unknown       []byte           // the same, once a call with an effect was sent

	mu   sync.Mutex
	byIP map[string]int
	// idle lists the connections idle between requests, the longest idle
	// first, linked through the connections themselves so that a state
	// change costs no allocation.
	idle idleList
	// conns are the connections open, for cutAll.
	conns map[*limitedConn]struct{}
}

// idleList is a doubly linked list of connections, under connLimit.mu.
type idleList struct {
	head, tail *limitedConn
	n          int
}

func (l *idleList) push(c *limitedConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	c.listed = true
	l.n++
}

func (l *idleList) remove(c *limitedConn) {
	if !c.listed {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next, c.listed = nil, nil, false
	l.n--
}

// idleConns is the number of connections idle between requests.
func (l *connLimit) idleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.n
}

// connState is the server's ConnState hook: it keeps the idle list, and
// whether a request is in progress on the connection, for cutAll.
func connState(c net.Conn, state fasthttp.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l := lc.limit
	l.mu.Lock()
	if state == fasthttp.StateIdle && !lc.closed {
		l.idle.push(lc)
	} else {
		l.idle.remove(lc)
	}
	l.mu.Unlock()
	lc.wmu.Lock()
	lc.active, lc.written, lc.sent = state == fasthttp.StateActive, false, false
	lc.wmu.Unlock()
}

func (l *connLimit) track(c *limitedConn) *limitedConn {
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c
}

// cutAll closes every connection, once the grace period of a shutdown is
// over. A request in progress whose answer has not started is answered
// with a problem and Connection: close first, so that its client learns
// why rather than reading a bare end of file: 503, safe to retry, unless a
// call with an effect was sent for it (markSent), whose outcome is then
// unknown: 504. The handler's own answer, when it comes, is dropped. It
// returns how many requests it cut.
func (l *connLimit) cutAll() int {
	l.mu.Lock()
	conns := make([]*limitedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	n := 0
	for _, c := range conns {
		// A connection busy writing its answer is closed under it.
		if !c.wmu.TryLock() {
			n++
			_ = c.Close()
			continue
		}
		if c.active {
			n++
			if !c.written {
				a := l.shutdown
				if c.sent {
					a = l.unknown
				}
				_ = c.Conn.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
				_, _ = c.Conn.Write(a)
			}
		}
		c.cut = true
		c.wmu.Unlock()
		_ = c.Close()
	}
	return n
}

// evictIdle closes the connection idle the longest, if any, from ip if ip
// is not "", which frees its slot (and its address's count). A request that
// arrives on it as it is closed is lost, as with any keep-alive connection
// a server closes; clients retry those.
func (l *connLimit) evictIdle(ip string) bool {
	l.mu.Lock()
	c := l.idle.head
	for ip != "" && c != nil && c.ip != ip {
		c = c.next
	}
	if c != nil {
		l.idle.remove(c)
	}
	l.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

// refusalWriteTimeout bounds writing a refusal to a connection.
const refusalWriteTimeout = time.Second

func limitConns(ln net.Listener, max, perIP, maxLine int, onRefused func(int)) *connLimit {
	return &connLimit{
		Listener:  ln,
		slots:     make(chan struct{}, max),
		perIP:     perIP,
		maxLine:   maxLine,
		onRefused: onRefused,
		byIP:      map[string]int{},
		conns:     map[*limitedConn]struct{}{},
		full: refusal(problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			fmt.Sprintf("the gateway is serving its maximum of %d connections; retry later", max))),
		tooMany: refusal(problem.New(problem.TypeTooManyConnections, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the gateway serves at most %d connections from one address", perIP))),
		shutdown: refusal(problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			"the gateway stopped before the request was done; retry it")),
		unknown: answer(problem.New(problem.TypeGatewayTimeout, fasthttp.StatusGatewayTimeout,
			"the gateway stopped after sending the request to the backend, before its answer: the outcome is unknown; "+
				"check before retrying, or retry with the same Idempotency-Key"), false),
	}
}

func refusal(p problem.Problem) []byte { return answer(p, true) }

// answer is a whole HTTP response carrying p, which closes the connection.
func answer(p problem.Problem, retry bool) []byte {
	body, _ := json.Marshal(p) // a Problem holds only strings and ints
	retryAfter := ""
	if retry {
		retryAfter = "Retry-After: 1\r\n"
	}
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n",
		p.Status, fasthttp.StatusMessage(p.Status), problem.ContentType, len(body), retryAfter)
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
		// An address at its share gives way with its own idle
		// connections first, as every address does with the slots.
		if !l.acquireIP(ip) && (!l.evictIdle(ip) || !l.acquireIP(ip)) {
			refuse(c, l.tooMany)
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return l.track(&limitedConn{Conn: c, limit: l, ip: ip, front: newFront(l.maxLine)}), nil
		default:
		}
		// Only Accept takes slots, so the slot an eviction frees is ours.
		if l.evictIdle("") {
			select {
			case l.slots <- struct{}{}:
				return l.track(&limitedConn{Conn: c, limit: l, ip: ip, front: newFront(l.maxLine)}), nil
			default:
			}
		}
		l.releaseIP(ip)
		refuse(c, l.full)
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
	limit  *connLimit
	ip     string
	once   sync.Once
	linger atomic.Bool

	// front inspects what the client sends; refused: it answered a
	// request it refused. Only the connection's serving goroutine uses
	// them.
	front   front
	refused bool
	pending *problem.Problem // a refusal due at the next Read

	// wmu orders writes against cutAll; under it, active: a request is in
	// progress; written: its answer has started; sent: a call with an
	// effect was sent for it; cut: cutAll has answered or closed the
	// connection, so writes are dropped.
	wmu                        sync.Mutex
	active, written, sent, cut bool

	// The links of connLimit.idle, and whether the connection is closed
	// (never to be listed again), under connLimit.mu.
	prev, next     *limitedConn
	listed, closed bool
}

// markSent records, on c if it is one of the gateway's client connections,
// that a call with an effect (a create) is being sent for its request in
// progress: from then on, its outcome is unknown until the backend
// answers, and a cut must not tell the client that a retry is safe.
func markSent(c net.Conn) {
	if lc, ok := c.(*limitedConn); ok {
		lc.wmu.Lock()
		lc.sent = true
		lc.wmu.Unlock()
	}
}

// inner returns the connection as the listener accepted it, for the
// client watch (disconnect.go), which needs the TCP socket.
func (c *limitedConn) inner() net.Conn { return c.Conn }

// Bounds of a lingering close.
const (
	lingerTimeout  = time.Second
	lingerMaxBytes = 16 << 20
)

// lingerOnClose makes the closing of c lingering, if c is one of the
// gateway's client connections: see limitedConn.Close.
func lingerOnClose(c net.Conn) {
	if lc, ok := c.(*limitedConn); ok {
		lc.linger.Store(true)
	}
}

// Close closes the connection, lingeringly if the server refused a request
// whose body it did not read: it closes the sending side first, so the
// answer goes out with a FIN, then reads and discards what the client is
// still sending, up to lingerMaxBytes for lingerTimeout. Closing with
// unread data would reset the connection, and a client that sends its
// whole body before reading would see the reset instead of the answer.
func (c *limitedConn) Close() error {
	if c.linger.Swap(false) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes)
	}
	err := c.Conn.Close()
	c.once.Do(func() {
		c.limit.mu.Lock()
		c.limit.idle.remove(c)
		c.closed = true
		delete(c.limit.conns, c)
		c.limit.mu.Unlock()
		c.limit.releaseIP(c.ip)
		<-c.limit.slots
	})
	return err
}
