// Package backend is the gateway's client of its backend services: one
// fasthttp HostClient per backend, sized on purpose, whose transport cuts a
// call on the wire when its context ends, and an Exchange per public request
// that performs its calls and owns their response bodies until the request
// is done with them.
package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults for Options fields left zero.
const (
	// DefaultMaxConns bounds the connections to one backend. At 500 public
	// requests/s and 40 ms per call a backend needs about 20; 256 leaves room
	// for bursts and slow backends without letting one exhaust the
	// process's file descriptors.
	DefaultMaxConns = 256
	// DefaultMaxResponseBodySize bounds a backend's body (4 MiB).
	DefaultMaxResponseBodySize = 4 << 20
	// DefaultMaxConnWaitTimeout is how long a call may wait for a free
	// connection when all are busy; the call's deadline ends the wait
	// sooner. A call that waited in vain was never sent: ErrUnavailable.
	DefaultMaxConnWaitTimeout = 2 * time.Second
	// DefaultDialTimeout bounds connecting to a backend.
	DefaultDialTimeout = time.Second
)

// Errors of a call, for the gateway to map to public statuses.
var (
	// ErrTimeout: the backend did not answer before the call's deadline.
	ErrTimeout = errors.New("backend timed out")
	// ErrUnavailable: no connection to the backend was free in time.
	ErrUnavailable = errors.New("no free connection to backend")
	// ErrUnknownBackend: the call names a backend that is not configured.
	ErrUnknownBackend = errors.New("unknown backend")
)

// Options configures every backend client. Zero fields take the defaults.
// The YAML names are the gateway's config file keys; fields named "-" are
// not settable there.
type Options struct {
	MaxConns            int           `yaml:"max_conns"`       // per backend; 0: DefaultMaxConns
	MaxConnWaitTimeout  time.Duration `yaml:"-"`               // 0: DefaultMaxConnWaitTimeout
	Timeout             time.Duration `yaml:"backend_timeout"` // per call; 0: only the request deadline
	MaxResponseBodySize int           `yaml:"-"`               // 0: DefaultMaxResponseBodySize
	DialTimeout         time.Duration `yaml:"-"`               // 0: DefaultDialTimeout
	// Dial connects to a backend's address. If nil, TCP with DialTimeout.
	// Tests and benchmarks set it to reach in-memory listeners.
	Dial func(addr string) (net.Conn, error) `yaml:"-"`
}

// Backend is one backend service's address and its own limits; zero limits
// take the Options'.
type Backend struct {
	Addr     string        `yaml:"addr"`      // host:port
	MaxConns int           `yaml:"max_conns"` // 0: Options.MaxConns
	Timeout  time.Duration `yaml:"timeout"`   // per call; 0: Options.Timeout
}

// Clients holds one HostClient per backend. It is safe for concurrent use.
type Clients struct {
	backends map[string]*client
	dial     time.Duration
	dialer   func(addr string) (net.Conn, error)
	pool     sync.Pool
}

type client struct {
	hc       *fasthttp.HostClient
	tr       *transport
	timeout  time.Duration
	inFlight atomic.Int64
	// slots holds one token per connection the backend may have: a call
	// takes one before fasthttp picks a connection. fasthttp's own wait for
	// a free connection ends at the request's deadline with ErrTimeout, the
	// same error as a backend that did not answer; waiting here instead
	// tells the two apart, so that a call never sent is "unavailable" (the
	// client may retry) and not a timeout.
	slots   chan struct{}
	maxWait time.Duration
}

// New returns Clients for the given backends (by name).
func New(backends map[string]Backend, opts Options) (*Clients, error) {
	if len(backends) == 0 {
		return nil, errors.New("no backends")
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxConnWaitTimeout <= 0 {
		opts.MaxConnWaitTimeout = DefaultMaxConnWaitTimeout
	}
	if opts.MaxResponseBodySize <= 0 {
		opts.MaxResponseBodySize = DefaultMaxResponseBodySize
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	c := &Clients{backends: make(map[string]*client, len(backends)), dial: opts.DialTimeout, dialer: opts.Dial}
	dial := opts.Dial
	if dial == nil {
		dialTimeout := opts.DialTimeout
		dial = func(a string) (net.Conn, error) { return fasthttp.DialTimeout(a, dialTimeout) }
	}
	for name, b := range backends {
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			return nil, fmt.Errorf("backend %s: address %q: %w", name, b.Addr, err)
		}
		maxConns, timeout := b.MaxConns, b.Timeout
		if maxConns <= 0 {
			maxConns = opts.MaxConns
		}
		if timeout <= 0 {
			timeout = opts.Timeout
		}
		tr := &transport{}
		c.backends[name] = &client{
			tr:      tr,
			timeout: timeout,
			slots:   make(chan struct{}, maxConns),
			maxWait: opts.MaxConnWaitTimeout,
			hc: &fasthttp.HostClient{
				Addr:                b.Addr,
				Name:                "fanout-gateway",
				MaxConns:            maxConns,
				MaxConnWaitTimeout:  opts.MaxConnWaitTimeout,
				MaxResponseBodySize: opts.MaxResponseBodySize,
				MaxIdleConnDuration: 30 * time.Second,
				Dial:                func(a string) (net.Conn, error) { return guardDial(dial, a) },
				RetryIfErr:          retryOnce,
				Transport:           tr,
				// The path a template built is the path sent: fasthttp would
				// otherwise decode %2F and remove dot segments, so that
				// /layers/1%2F..%2F..%2Fadmin reached the backend as /admin.
				DisablePathNormalizing: true,
			},
		}
	}
	return c, nil
}

// guardDial dials with dial and guards the connection against unsolicited
// responses.
func guardDial(dial func(string) (net.Conn, error), addr string) (net.Conn, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	return guard(c), nil
}

// retryOnce retries an idempotent request once when its connection was
// closed before any response: a keep-alive connection the backend had just
// closed is the usual cause. Any other failure is the caller's to see, and
// the retry never resets the deadline.
func retryOnce(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, errUnsolicited) {
		// Nothing was written: any method may go on another connection, as
		// many times as fasthttp allows attempts (several pooled
		// connections may have been spoken on).
		return false, true
	}
	if attempts > 1 {
		return false, false
	}
	if !req.Header.IsGet() {
		return false, false
	}
	return false, errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF)
}

// Names returns the backend names, sorted.
func (c *Clients) Names() []string {
	names := make([]string, 0, len(c.backends))
	for n := range c.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// InFlight returns the number of calls to a backend in progress.
func (c *Clients) InFlight(name string) int64 {
	if b := c.backends[name]; b != nil {
		return b.inFlight.Load()
	}
	return 0
}

// CloseIdleConnections closes every backend connection not in use, e.g.
// to let a backend restart cleanly or for a leak check to count only what
// is busy.
func (c *Clients) CloseIdleConnections() {
	for _, b := range c.backends {
		b.hc.CloseIdleConnections()
	}
}

// Describe returns "name=host:port" for every backend, sorted by name.
func (c *Clients) Describe() []string {
	names := c.Names()
	for i, n := range names {
		names[i] = n + "=" + c.backends[n].hc.Addr
	}
	return names
}

// Addr returns the address of a backend, "" if unknown.
func (c *Clients) Addr(name string) string {
	if b := c.backends[name]; b != nil {
		return b.hc.Addr
	}
	return ""
}

// Check dials every backend concurrently and returns the error of each one
// that cannot be reached (empty if all can).
func (c *Clients) Check(ctx context.Context) map[string]error {
	type res struct {
		name string
		err  error
	}
	ch := make(chan res, len(c.backends))
	for name, b := range c.backends {
		addr := b.hc.Addr
		go func() {
			var conn net.Conn
			var err error
			if c.dialer != nil {
				conn, err = c.dialer(addr)
			} else {
				d := net.Dialer{Timeout: c.dial}
				conn, err = d.DialContext(ctx, "tcp", addr)
			}
			if err == nil {
				_ = conn.Close()
			}
			ch <- res{name, err}
		}()
	}
	failed := map[string]error{}
	for range c.backends {
		r := <-ch
		if r.err != nil {
			failed[r.name] = r.err
		}
	}
	return failed
}

// Exchange returns an Exchange for one public request. Release it when the
// bodies it returned are no longer used.
func (c *Clients) Exchange() *Exchange {
	e, _ := c.pool.Get().(*Exchange)
	if e == nil {
		e = &Exchange{c: c}
	}
	return e
}

// Exchange performs the backend calls of one public request and keeps their
// responses so that the bodies it returns stay valid until Release. It
// implements the fan-out engine's Doer and is safe for concurrent use.
type Exchange struct {
	c     *Clients
	mu    sync.Mutex
	resps []*fasthttp.Response
	id    []byte // the public request's id, sent as X-Request-Id
	// idem is the Idempotency-Key sent with the calls that carry a body.
	idem []byte
	// trace is the W3C trace context the calls send (SetTrace); off by
	// default, when it costs a call one branch.
	trace traceContext
	// calls are the calls on the wire, for Interrupt: a slot is taken
	// once a call has its connection and freed before the connection
	// goes back to the pool or is closed. Slots keep their index while
	// taken, and the slice keeps its array across requests, so that a
	// call costs no allocation.
	calls []wireCall
	// carried pairs each response read in full with the connection it
	// came on, so that Disown finds the connection of a body; it keeps its
	// array across requests, as calls does.
	carried []carried
}

// carried is a response and the connection that carried it.
type carried struct {
	resp *fasthttp.Response
	conn interface{ SetDeadline(time.Time) error }
}

// wireCall is a call on the wire: its context, and the connection that
// Interrupt cuts once that context is done.
type wireCall struct {
	ctx  context.Context
	conn interface{ SetDeadline(time.Time) error }
	used bool
	cut  bool // its connection got a deadline in the past
}

// enter registers a call on conn, whose deadline is already set, and
// returns its slot for leave. A call whose context is already done is cut
// at once, so that an Interrupt that ran just before it registered still
// stops it.
func (e *Exchange) enter(ctx context.Context, conn interface{ SetDeadline(time.Time) error }) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := 0
	for i < len(e.calls) && e.calls[i].used {
		i++
	}
	if i == len(e.calls) {
		e.calls = append(e.calls, wireCall{})
	}
	w := &e.calls[i]
	*w = wireCall{ctx: ctx, conn: conn, used: true}
	if ctx.Err() != nil {
		w.interrupt()
	}
	return i
}

// leave frees slot i and reports whether Interrupt cut its call. Once it
// returns, Interrupt no longer touches the call's connection. read is the
// call's response if it was read in full, nil otherwise: Disown may then
// find the connection it came on.
func (e *Exchange) leave(i int, read *fasthttp.Response) (cut bool) {
	e.mu.Lock()
	w := &e.calls[i]
	cut = w.cut
	if read != nil {
		e.carried = append(e.carried, carried{resp: read, conn: w.conn})
	}
	*w = wireCall{}
	e.mu.Unlock()
	return cut
}

// Disown takes the engine's word that body, returned by a call of the
// Exchange, was not the answer to that call (see fanout.Disowner): the
// connection it came on is out of step, so it carries no more requests.
// If it is idle, the next request that picks it goes on another
// connection, whatever its method, since nothing was written; if it
// carries a call already, that call's answer is checked as any is, and the
// connection is closed after it. A body the Exchange did not return (a
// copy a policy shared) is ignored.
func (e *Exchange) Disown(body []byte) {
	if len(body) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.resps {
		if b := r.Body(); len(b) == 0 || &b[0] != &body[0] {
			continue
		}
		// The last record of r is its call's: a response released after
		// a failed call may have been taken again by a later one.
		for k := len(e.carried) - 1; k >= 0; k-- {
			if e.carried[k].resp == r {
				if g, ok := e.carried[k].conn.(*guardedConn); ok {
					g.disowned.Store(true)
				}
				return
			}
		}
		return
	}
}

// Interrupt cuts every call of the Exchange that is on the wire and whose
// context is done: a deadline in the past on its connection wakes its
// blocked write or read at once, and the call returns its context's error
// with the connection closed, never pooled, so that the backend sees it go.
// A call whose context is not done goes on. The transport does not watch
// contexts, which would cost every call an arming and its stop: whoever
// ends the contexts of calls early (the fan-out engine's abort, the client
// gone) calls Interrupt right after. A call that reaches the wire after an
// Interrupt with its context already done is cut as it gets there.
// Interrupt is safe for concurrent use with the calls.
func (e *Exchange) Interrupt() {
	e.mu.Lock()
	for i := range e.calls {
		if w := &e.calls[i]; w.used && !w.cut && w.ctx.Err() != nil {
			w.interrupt()
		}
	}
	e.mu.Unlock()
}

// interrupt wakes any blocked read or write on the call's connection.
func (w *wireCall) interrupt() {
	_ = w.conn.SetDeadline(longAgo)
	w.cut = true
}

// RequestIDHeader is the header that carries the public request's id, to
// the client and to every backend call, so that one id finds a request in
// the logs of the gateway and of every backend.
const RequestIDHeader = "X-Request-Id"

// requestIDKey is RequestIDHeader as fasthttp writes it, which a call
// sets without normalising it again.
var requestIDKey = []byte(RequestIDHeader)

// SetRequestID sets the id every call of the Exchange sends as
// X-Request-Id; id is copied. Call it before the calls start.
func (e *Exchange) SetRequestID(id []byte) { e.id = append(e.id[:0], id...) }

// IdempotencyKeyHeader is the header that makes a create idempotent: the
// client's, on the public API; the gateway's, namespaced per token, on the
// call to the backend, which then creates at most one resource per key.
const IdempotencyKeyHeader = "Idempotency-Key"

// SetIdempotencyKey sets the key the calls of the Exchange that carry a
// body send as Idempotency-Key; key is copied. Call it before the calls
// start.
func (e *Exchange) SetIdempotencyKey(key []byte) { e.idem = append(e.idem[:0], key...) }

// Do performs one call: method and path (with query, sent byte for byte as
// given) on the named backend. The deadline is the earlier of ctx's and the
// configured call timeout; it bounds the wait for a connection too. A call
// whose ctx is cancelled before it is sent returns at once; on the wire, it
// returns once Interrupt runs after the cancel: its connection is closed,
// so that the backend sees it go (KindCancelled, and errors.Is matches
// context.Canceled). A non-2xx status is not an error. A failed
// call is an *Error with its Kind (errors.Is matches ErrTimeout and
// ErrUnavailable), or ErrUnknownBackend.
func (e *Exchange) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	return e.DoBody(ctx, backend, method, path, "", nil)
}

// DoBody is Do with a request body and its content type.
func (e *Exchange) DoBody(ctx context.Context, backend, method, path, contentType string, body []byte) (int, []byte, error) {
	b := e.c.backends[backend]
	if b == nil {
		return 0, nil, fmt.Errorf("%w %q", ErrUnknownBackend, backend)
	}
	hc := b.hc
	deadline, ok := ctx.Deadline()
	if t := b.timeout; t > 0 {
		if d := time.Now().Add(t); !ok || d.Before(deadline) {
			deadline, ok = d, true
		}
	}
	if !ok {
		deadline = time.Now().Add(DefaultMaxConnWaitTimeout)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, &Error{Kind: classify(err), Backend: backend, Addr: hc.Addr, Err: err}
	}

	waited, err := b.acquire(ctx, deadline)
	if err != nil {
		return 0, nil, &Error{Kind: KindUnavailable, Backend: backend, Addr: hc.Addr, Err: err}
	}
	defer b.release()
	// A slot freed as the wait ends wins it as often as the deadline does
	// (select picks at random): such a call has no time left to be sent.
	if waited && !time.Now().Before(deadline) {
		return 0, nil, &Error{Kind: KindUnavailable, Backend: backend, Addr: hc.Addr, Err: errNotSent}
	}

	o := acquireOutgoing(ctx, deadline, e)
	defer releaseOutgoing(o)
	req := &o.req
	resp := fasthttp.AcquireResponse()
	if method == "" {
		method = fasthttp.MethodGet
	}
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(hc.Addr)
	if len(e.id) > 0 {
		req.Header.SetCanonical(requestIDKey, e.id)
	}
	if e.trace.on {
		e.setTraceHeaders(ctx, req)
	}
	if body != nil {
		req.Header.SetContentType(contentType)
		req.SetBodyRaw(body)
		if len(e.idem) > 0 {
			req.Header.SetBytesV(IdempotencyKeyHeader, e.idem)
		}
	}
	b.inFlight.Add(1)
	// Do, not DoDeadline: the transport bounds every step of the call by
	// its deadline, and DoDeadline's own check, before the transport, would
	// report a call whose deadline passed before it was sent as a timeout.
	err = hc.Do(req, resp)
	b.inFlight.Add(-1)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return 0, nil, &Error{Kind: classify(err), Backend: backend, Addr: hc.Addr, Err: fmt.Errorf("%s %s: %w", method, path, err)}
	}
	e.mu.Lock()
	e.resps = append(e.resps, resp)
	e.mu.Unlock()
	status := resp.StatusCode()
	if status >= 200 && status < 300 && status != fasthttp.StatusNoContent && !isJSON(resp.Header.ContentType()) {
		return 0, nil, &Error{Kind: KindMalformed, Backend: backend, Addr: hc.Addr,
			Err: fmt.Errorf("%s %s: content type %.60q is not JSON", method, path, resp.Header.ContentType())}
	}
	return status, resp.Body(), nil
}

// isJSON reports whether a Content-Type is JSON's media type
// (application/json) or one with the +json suffix, parameters aside: the
// gateway answers with the backend's bytes under its own JSON content
// type, so bytes the backend labelled otherwise (an HTML error page from a
// proxy, a script) are not the answer it asked for.
func isJSON(contentType []byte) bool {
	if i := bytes.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	mt := bytes.TrimSpace(contentType)
	const app, suffix = "application/", "+json"
	if len(mt) > len(app)+len(suffix) && bytes.EqualFold(mt[len(mt)-len(suffix):], []byte(suffix)) {
		return bytes.EqualFold(mt[:len(app)], []byte(app))
	}
	return bytes.EqualFold(mt, []byte("application/json"))
}

// acquire takes a connection slot, waiting at most until the earliest of
// deadline, the end of ctx and the configured wait; waited says whether
// it had to wait.
func (b *client) acquire(ctx context.Context, deadline time.Time) (waited bool, err error) {
	select {
	case b.slots <- struct{}{}:
		return false, nil
	default:
	}
	wait := min(time.Until(deadline), b.maxWait)
	if wait <= 0 {
		return false, fmt.Errorf("all %d connections busy", cap(b.slots))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case b.slots <- struct{}{}:
		return true, nil
	case <-t.C:
		return true, fmt.Errorf("all %d connections busy for %v", cap(b.slots), wait)
	case <-ctx.Done():
		return true, fmt.Errorf("all %d connections busy until the call ended: %w", cap(b.slots), ctx.Err())
	}
}

func (b *client) release() { <-b.slots }

// Release frees the responses of every call; their bodies are invalid
// afterwards. The Exchange must not be used after Release.
func (e *Exchange) Release() {
	e.mu.Lock()
	for i, r := range e.resps {
		fasthttp.ReleaseResponse(r)
		e.resps[i] = nil
	}
	e.resps = e.resps[:0]
	clear(e.carried)
	e.carried = e.carried[:0]
	e.id = e.id[:0]
	e.idem = e.idem[:0]
	e.trace.on = false
	e.mu.Unlock()
	e.c.pool.Put(e)
}
