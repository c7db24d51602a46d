package transport

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/rawsock"

	"github.com/valyala/fasthttp"
)

// Listener is a listener that serves at most max connections at once, and
// at most perIP from one client address (0: no such limit). When every slot
// is taken, a new connection takes the slot of a connection that waits for
// its client, which is closed, as nginx does: the silent connection open
// the longest (opened, and not a byte of a request received yet), else the
// connection idle between requests the longest. Both cost a slot each, and
// a client holding many of them must not lock everyone else out until a
// timeout; a silent one goes first, as it has never been a client's, and a
// client that opens connections it does not use is the one that pays. An
// address at its share likewise gives way with its own silent connection,
// then its own idle one. Only when no connection waits is a new one
// refused. A connection must also send its request line and headers within
// headerTimeout (0: no such limit) of its opening, or of the first byte of
// a request on a keep-alive connection: fasthttp's read timeout, which
// bounds a whole request, is cut short for the head. A connection beyond a limit is
// answered (503, or 429 for one address) with a problem body and closed at
// once, without a goroutine: a client is told rather than left waiting, and
// a flood of connections costs the gateway nothing more. (fasthttp's own
// limits answer in plain text.)
type Listener struct {
	net.Listener
	slots         chan struct{}
	perIP         int
	maxLine       int              // the header size limit, for front
	headerTimeout time.Duration    // the time a request head may take
	onRefused     func(status int) // called when front refuses a request
	full, tooMany []byte           // the refusals, whole HTTP responses
	shutdown      []byte           // the answer to a request cut by a shutdown
	unknown       []byte           // the same, once a call with an effect was sent

	mu   sync.Mutex
	byIP map[string]int
	// silent lists the connections that have not sent a byte yet, and idle
	// those idle between requests, the longest waiting first, linked
	// through the connections themselves so that a state change costs no
	// allocation. A connection is on one list at most.
	silent, idle connList
	// conns are the connections open, for CutAll.
	conns map[*limitedConn]struct{}
}

// connList is a doubly linked list of connections, under Listener.mu.
type connList struct {
	head, tail *limitedConn
	n          int
}

func (l *connList) push(c *limitedConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	c.in = l
	l.n++
}

// remove takes c off the list, if it is on it.
func (l *connList) remove(c *limitedConn) {
	if c.in != l {
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
	c.prev, c.next, c.in = nil, nil, nil
	l.n--
}

// oldest is the connection on the list the longest, from ip if ip is not
// "", or nil.
func (l *connList) oldest(ip string) *limitedConn {
	c := l.head
	for ip != "" && c != nil && c.ip != ip {
		c = c.next
	}
	return c
}

// IdleConns is the number of connections idle between requests.
func (l *Listener) IdleConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.n
}

// SilentConns is the number of connections that have not sent a byte yet.
func (l *Listener) SilentConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.silent.n
}

// ConnState is the server's ConnState hook: it keeps the silent and idle
// lists, whether the connection awaits a request head, and whether a
// request is in progress on it, for CutAll.
func ConnState(c net.Conn, state fasthttp.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok || state == fasthttp.StateNew {
		return // a new connection stays silent until its first byte
	}
	// The serving goroutine calls this hook, as it reads: the head flag
	// needs no lock. Idle, a connection waits under the idle timeout; at
	// the first byte of a request, its head is due.
	lc.head = state == fasthttp.StateActive
	l := lc.limit
	l.mu.Lock()
	if lc.in != nil {
		lc.in.remove(lc)
	}
	if state == fasthttp.StateIdle && !lc.closed {
		l.idle.push(lc)
	}
	l.mu.Unlock()
	lc.wmu.Lock()
	lc.active, lc.written, lc.sent = state == fasthttp.StateActive, false, false
	lc.wmu.Unlock()
}

// track registers a connection just accepted: open, silent, and awaiting
// its first request head.
func (l *Listener) track(c *limitedConn) *limitedConn {
	c.head = true
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.silent.push(c)
	l.mu.Unlock()
	return c
}

// CutAll closes every connection, once the grace period of a shutdown is
// over. A request in progress whose answer has not started is answered
// with a problem and Connection: close first, so that its client learns
// why rather than reading a bare end of file: 503, safe to retry, unless a
// call with an effect was sent for it (MarkSent), whose outcome is then
// unknown: 504. The handler's own answer, when it comes, is dropped. It
// returns how many requests it cut.
func (l *Listener) CutAll() int {
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

// evict closes the connection silent the longest, else the one idle the
// longest, if any, from ip if ip is not "", which frees its slot (and its
// address's count). A request that arrives on it as it is closed is lost,
// as with any keep-alive connection a server closes; clients retry those.
func (l *Listener) evict(ip string) bool {
	l.mu.Lock()
	c := l.silent.oldest(ip)
	if c == nil {
		c = l.idle.oldest(ip)
	}
	if c != nil {
		c.in.remove(c)
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

// NewListener limits the connections ln accepts to max at once and perIP
// from one address (0: no such limit), inspects their request heads
// (front.go) against maxLine, the header size limit, and headerTimeout;
// onRefused is called with the status of each request front refuses.
func NewListener(ln net.Listener, max, perIP, maxLine int, headerTimeout time.Duration, onRefused func(int)) *Listener {
	return &Listener{
		Listener:      ln,
		slots:         make(chan struct{}, max),
		perIP:         perIP,
		maxLine:       maxLine,
		headerTimeout: headerTimeout,
		onRefused:     onRefused,
		byIP:          map[string]int{},
		conns:         map[*limitedConn]struct{}{},
		full: refusal(problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			fmt.Sprintf("the gateway is serving its maximum of %d connections; retry later", max))),
		tooMany: refusal(problem.New(problem.TypeTooManyConnections, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the gateway serves at most %d connections from one address", perIP))),
		shutdown: refusal(problem.New(problem.TypeUnavailable, fasthttp.StatusServiceUnavailable,
			"the gateway stopped before the request was done; retry it")),
		unknown: answer(problem.New(problem.TypeGatewayTimeout, fasthttp.StatusGatewayTimeout,
			"the gateway stopped after sending the request to the backend, before its answer: the outcome is unknown; "+
				"check before retrying, or retry with the same Idempotency-Key"), false, nil),
	}
}

func refusal(p problem.Problem) []byte { return answer(p, true, nil) }

// answer is a whole HTTP response carrying p, which closes the connection,
// with id as its X-Request-Id if not nil: the answer to a request has one,
// that to a connection refused before any request has none.
func answer(p problem.Problem, retry bool, id []byte) []byte {
	body, _ := json.Marshal(p) // a Problem holds only strings and ints
	extra := ""
	if retry {
		extra = "Retry-After: 1\r\n"
	}
	if id != nil {
		extra += backend.RequestIDHeader + ": " + string(id) + "\r\n"
	}
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n",
		p.Status, fasthttp.StatusMessage(p.Status), problem.ContentType, len(body), extra)
	return append([]byte(head), body...)
}

// Accept returns the next connection within the limits, refusing those
// beyond them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := ""
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && l.perIP > 0 {
			ip = a.IP.String()
		}
		// An address at its share gives way with its own waiting
		// connections first, as every address does with the slots.
		if !l.acquireIP(ip) && (!l.evict(ip) || !l.acquireIP(ip)) {
			refuse(c, l.tooMany)
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return l.track(l.newConn(c, ip)), nil
		default:
		}
		// Only Accept takes slots, so the slot an eviction frees is ours.
		if l.evict("") {
			select {
			case l.slots <- struct{}{}:
				return l.track(l.newConn(c, ip)), nil
			default:
			}
		}
		l.releaseIP(ip)
		refuse(c, l.full)
	}
}

// newConn wraps an accepted connection of ip.
func (l *Listener) newConn(c net.Conn, ip string) *limitedConn {
	return &limitedConn{Conn: c, rw: rawsock.ReadWriter(c), limit: l, ip: ip, front: newFront(l.maxLine)}
}

func refuse(c net.Conn, answer []byte) {
	_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	_, _ = c.Write(answer)
	_ = c.Close()
}

// acquireIP counts one more connection from ip ("" is not counted), unless
// that would pass the limit.
func (l *Listener) acquireIP(ip string) bool {
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

func (l *Listener) releaseIP(ip string) {
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
	rw     io.ReadWriter // the serving goroutine's reads and writes: raw system calls (rawsock) where it can
	limit  *Listener
	ip     string
	once   sync.Once
	linger atomic.Bool

	// front inspects what the client sends; refused: it answered a
	// request it refused. Only the connection's serving goroutine uses
	// them.
	front   front
	refused bool
	pending *problem.Problem // a refusal due at the next Read

	// wmu orders writes against CutAll; under it, active: a request is in
	// progress; written: its answer has started; sent: a call with an
	// effect was sent for it; cut: CutAll has answered or closed the
	// connection, so writes are dropped.
	wmu                        sync.Mutex
	active, written, sent, cut bool

	// head: the connection awaits a request head, due within the
	// header timeout; wantRead: the read deadline fasthttp set, which the
	// header timeout may cut short. Only the serving goroutine uses them.
	head     bool
	wantRead time.Time

	// watch is the connection's slot in the client watcher, packed
	// (watchToken.pack): 0 before its first watch, watchClosed once it
	// is closed.
	watch atomic.Uint64

	// The links of the list the connection is on (in, or nil), and
	// whether the connection is closed (never to be listed again), under
	// Listener.mu.
	prev, next *limitedConn
	in         *connList
	closed     bool
}

// SetReadDeadline sets the read deadline fasthttp asks for, cut short to
// the header timeout while the connection awaits a request head: fasthttp
// has one read timeout for a whole request, and a client must not hold a
// connection for all of it without sending its head.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.wantRead = t
	if c.head && c.limit.headerTimeout > 0 {
		if h := time.Now().Add(c.limit.headerTimeout); t.IsZero() || h.Before(t) {
			t = h
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// headDone ends the header timeout once a request head has arrived: the
// body has what is left of fasthttp's read deadline.
func (c *limitedConn) headDone() {
	if !c.head {
		return
	}
	c.head = false
	if c.limit.headerTimeout > 0 {
		_ = c.Conn.SetReadDeadline(c.wantRead)
	}
}

// MarkSent records, on c if it is one of the gateway's client connections,
// that a call with an effect (a create) is being sent for its request in
// progress: from then on, its outcome is unknown until the backend
// answers, and a cut must not tell the client that a retry is safe.
func MarkSent(c net.Conn) {
	if lc, ok := c.(*limitedConn); ok {
		lc.wmu.Lock()
		lc.sent = true
		lc.wmu.Unlock()
	}
}

// Refused reports whether c, if it is one of the gateway's client
// connections, has had a request refused by front, which answered and
// counted it: fasthttp then sees the end of its input, which is no error
// of the client's to answer again.
func Refused(c net.Conn) bool {
	lc, ok := c.(*limitedConn)
	return ok && lc.refused
}

// AwaitsHead reports whether c, if it is one of the gateway's client
// connections, awaits a request head: a timeout then is the header
// timeout's, not the read timeout's.
func AwaitsHead(c net.Conn) bool {
	lc, ok := c.(*limitedConn)
	return ok && lc.head
}

// Instance is the path of the request front saw last on c, for the
// instance of a problem about a request fasthttp could not parse; "" if
// none, or if c is not one of the gateway's client connections.
func Instance(c net.Conn) string {
	if lc, ok := c.(*limitedConn); ok {
		return lc.front.instance()
	}
	return ""
}

// inner returns the connection as the listener accepted it, for the
// client watch (disconnect.go), which needs the TCP socket.
func (c *limitedConn) inner() net.Conn { return c.Conn }

// Bounds of a lingering close.
const (
	lingerTimeout  = time.Second
	lingerMaxBytes = 16 << 20
)

// LingerOnClose makes the closing of c lingering, if c is one of the
// gateway's client connections: see limitedConn.Close.
func LingerOnClose(c net.Conn) {
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
		c.closeWatch()
		c.limit.mu.Lock()
		if c.in != nil {
			c.in.remove(c)
		}
		c.closed = true
		delete(c.limit.conns, c)
		c.limit.mu.Unlock()
		c.limit.releaseIP(c.ip)
		<-c.limit.slots
	})
	return err
}
