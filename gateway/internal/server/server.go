// Package server is the gateway's API: a fasthttp server whose router is
// built from the OpenAPI document's paths, request validation, tokens and
// project scope, idempotency, paging, caching headers, the operation
// handlers (plain proxies, creates and composed pages), problem+json
// errors, Server-Timing, metrics, and the operations endpoints on their
// own admin listener. The transport beneath it (connection slots, body
// budgets, framing, request ids) is package transport; what is particular
// to one page is next to its composition (package compose).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/policy"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/spec"
	"fanout/gateway/internal/store"
	"fanout/gateway/internal/tracing"
	"fanout/gateway/internal/transport"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Defaults of the fasthttp server's limits.
const (
	// DefaultDeadline bounds a whole public request.
	DefaultDeadline = 2 * time.Second
	// DefaultHeaderTimeout bounds a request's line and headers: a few
	// seconds, as a client sends its head in one packet or a few.
	DefaultHeaderTimeout = 3 * time.Second
	// DefaultReadTimeout bounds a whole request, its body included: a
	// client trickling a body in holds a connection and a body
	// reservation until then.
	DefaultReadTimeout        = 5 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
	DefaultMaxRequestBodySize = 1 << 20
	// DefaultMaxHeaderSize bounds the request line and headers, as the
	// 8 KiB of common proxies do; fasthttp's own 4 KiB is tight for cookies.
	DefaultMaxHeaderSize = 8 << 10
	// writeBuffer is the size of a client connection's write buffer: a
	// response that fits goes out in one write.
	writeBuffer = 8 << 10
	// DefaultMaxClientConns bounds the client connections served at once.
	DefaultMaxClientConns = 10000
	// DefaultMaxBodyBytesInFlight bounds the bytes of request bodies being
	// received or held at once: 64 full-size bodies, a few tens of MiB of
	// RSS at worst, where the connection limit alone would allow 10 GiB.
	DefaultMaxBodyBytesInFlight = 64 << 20
	// DefaultMaxBodyBytesPerIP bounds them for one client address, so that
	// one address cannot spend the whole budget.
	DefaultMaxBodyBytesPerIP = 8 << 20
	// DefaultMaxConnsPerIP bounds the connections from one client address
	// on a public port: far more than a browser (6) or an office behind
	// one NAT address needs, and few enough that one address cannot take
	// the slots of all DefaultMaxClientConns. Behind a proxy or a load
	// balancer every client shares the proxy's address, so there it must
	// be 0 (no limit) or above the proxy's connections to one replica,
	// and the proxy limits each client.
	DefaultMaxConnsPerIP = 256
)

// Limits bound what one client may take of the server, so that slow or
// oversized clients cannot starve the others. Zero fields take
// DefaultLimits' values, except MaxConnsPerIP: 0 means no per-address
// limit (DefaultLimits has one, which the gateway's config starts from).
// The YAML names are the gateway's config file keys.
type Limits struct {
	// ReadTimeout bounds reading a whole request, headers and body, from
	// its first byte (on a new connection, from its opening): a client
	// dribbling bytes gets 408 and is closed.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// HeaderTimeout bounds reading a request's line and headers, from the
	// opening of its connection or, on a keep-alive one, from its first
	// byte; it cuts ReadTimeout short for the head. A connection that
	// sends nothing within it gets 408 and is closed.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxRequestBodySize is the largest body in bytes; larger ones get 413.
	MaxRequestBodySize int `yaml:"max_body_size"`
	// MaxHeaderSize is the largest request line plus headers in bytes
	// (fasthttp's ReadBufferSize); larger ones get 431.
	MaxHeaderSize int `yaml:"max_header_size"`
	// MaxClientConns is the most client connections served at once;
	// further ones are answered 503 with a problem and closed. (Backend
	// connections are backend.Options.MaxConns.)
	MaxClientConns int `yaml:"max_client_conns"`
	// MaxConnsPerIP is the most connections from one client address;
	// further ones are answered 429 with a problem and closed. All the
	// clients behind one proxy share its address.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxBodyBytesInFlight bounds the bytes of request bodies received or
	// held at once; a body beyond it is refused with 503 before it is read.
	MaxBodyBytesInFlight int `yaml:"max_body_bytes_in_flight"`
	// MaxBodyBytesPerIP bounds them for one client address; a body beyond
	// it is refused with 429 before it is read.
	MaxBodyBytesPerIP int `yaml:"max_body_bytes_per_ip"`
}

// DefaultLimits returns the limits a server applies where Limits leaves a
// field zero; the gateway's config starts from them too, so each default is
// declared once, here.
func DefaultLimits() Limits {
	return Limits{
		ReadTimeout:          DefaultReadTimeout,
		HeaderTimeout:        DefaultHeaderTimeout,
		WriteTimeout:         DefaultWriteTimeout,
		IdleTimeout:          DefaultIdleTimeout,
		MaxRequestBodySize:   DefaultMaxRequestBodySize,
		MaxHeaderSize:        DefaultMaxHeaderSize,
		MaxClientConns:       DefaultMaxClientConns,
		MaxConnsPerIP:        DefaultMaxConnsPerIP,
		MaxBodyBytesInFlight: DefaultMaxBodyBytesInFlight,
		MaxBodyBytesPerIP:    DefaultMaxBodyBytesPerIP,
	}
}

// withDefaults fills the zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	fill(&l.ReadTimeout, d.ReadTimeout)
	fill(&l.HeaderTimeout, d.HeaderTimeout)
	fill(&l.WriteTimeout, d.WriteTimeout)
	fill(&l.IdleTimeout, d.IdleTimeout)
	fill(&l.MaxRequestBodySize, d.MaxRequestBodySize)
	fill(&l.MaxHeaderSize, d.MaxHeaderSize)
	fill(&l.MaxClientConns, d.MaxClientConns)
	fill(&l.MaxBodyBytesInFlight, d.MaxBodyBytesInFlight)
	fill(&l.MaxBodyBytesPerIP, d.MaxBodyBytesPerIP)
	return l
}

// fill sets *v to def when *v is not positive.
func fill[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Config is what a Server is made of. Spec, Executor and Backends are
// required.
type Config struct {
	Spec     *spec.Spec
	Executor fanout.Executor
	Backends *backend.Clients
	// Deadline bounds a whole public request. If 0, DefaultDeadline.
	Deadline time.Duration
	// Metrics receives the observations. If nil, a new set is made.
	Metrics *metrics.Metrics
	// Logger receives errors and panics. If nil, slog.Default().
	Logger *slog.Logger
	// Limits bound slow and oversized clients; zero fields take the defaults.
	Limits Limits
	// Policies are the process-wide settings of the calls' policies
	// (budgets, coalescing, breakers); the zero value turns them off. An
	// open breaker also answers a request that needs its backend 503 at
	// once.
	Policies policy.Settings
	// Overload, if not nil, limits the requests in progress: those beyond
	// it are shed with 503 before any work.
	Overload *overload.Limiter
	// Tokens are the bearer tokens /v2 accepts. If nil, authentication is
	// off: every request is let in, unlimited (-auth off).
	Tokens *auth.Set
	// Store keeps the rate limits and idempotency records. If nil, a new
	// store.Memory.
	Store store.Store
	// RateLimitFailClosed answers 503 to a request whose rate limit the
	// store cannot check. If false (the default), the request is served
	// unchecked and counted (storefail.go).
	RateLimitFailClosed bool
	// IdempotencyFailOpen performs a create whose Idempotency-Key the
	// store cannot claim, without a record. If false (the default), it is
	// answered 503, safe to retry.
	IdempotencyFailOpen bool
	// Pprof serves the Go profiler on the admin listener; off by default.
	Pprof bool
	// Tracer records a server span per request and a client span per
	// backend call, and the calls carry the trace context. If nil,
	// tracing is off.
	Tracer *tracing.Tracer
	// AccessLog writes a line per request it samples. If nil, none.
	AccessLog *accesslog.Logger
}

// Server serves the public API. It is safe for concurrent use.
type Server struct {
	spec     *spec.Spec
	exec     fanout.Executor
	backends *backend.Clients
	deadline time.Duration
	metrics  *metrics.Metrics
	log      *slog.Logger
	router   *router.Router
	// expectRouter routes requests that expect 100-continue to the checks
	// of their headers.
	expectRouter *router.Router
	srv          *fasthttp.Server
	admin        *http.Server
	ops          map[string]*operation
	unrouted     *metrics.Route
	limits       Limits
	bodies       *transport.Bodies
	// policies builds the policies of the operations' calls.
	policies *policy.Set
	// conns is the listener Serve limits, for Shutdown to cut.
	conns atomic.Pointer[transport.Listener]
	// stopping is set by Shutdown, under lnMu, which Serve holds while it
	// stores conns: a Serve that comes after Shutdown returns at once.
	lnMu     sync.Mutex
	stopping bool
	// limiter is the overload limit the server applies before any
	// backend work (resilience.go); nil when off.
	limiter *overload.Limiter
	// tokens holds the accepted tokens, swapped whole by SetTokens so that
	// a request reads one set with one atomic load and no lock; authOn is
	// false when authentication is off (Config.Tokens nil).
	tokens atomic.Pointer[auth.Set]
	authOn bool
	// draining is set by Drain: /readyz answers 503 and every public
	// answer carries Connection: close from then on.
	draining atomic.Bool
	store    store.Store
	pprof    bool
	tracer   *tracing.Tracer
	access   *accesslog.Logger
	// The failure modes of the store's checks, and the causes of its
	// log lines, each written at most once a second (storefail.go).
	rateLimitFailClosed, idempotencyFailOpen bool
	storeLogs                                storeLogs
}

// New builds the router from the document's operations and compiles the
// fan-out plans. An operation without a handler, a handler without an
// operation, an operation at a path the gateway serves itself (ownRoutes:
// the document and its /docs page) or a plan that does not compile is an
// error.
func New(cfg Config) (*Server, error) {
	if cfg.Spec == nil || cfg.Executor == nil || cfg.Backends == nil {
		return nil, errors.New("new server: Spec, Executor and Backends are required")
	}
	s := &Server{
		spec:     cfg.Spec,
		exec:     cfg.Executor,
		backends: cfg.Backends,
		deadline: cfg.Deadline,
		metrics:  cfg.Metrics,
		log:      cfg.Logger,
		ops:      map[string]*operation{},
		limits:   cfg.Limits.withDefaults(),
		limiter:  cfg.Overload,
		authOn:   cfg.Tokens != nil,
		store:    cfg.Store,
		pprof:    cfg.Pprof,
		tracer:   cfg.Tracer,
		access:   cfg.AccessLog,

		rateLimitFailClosed: cfg.RateLimitFailClosed,
		idempotencyFailOpen: cfg.IdempotencyFailOpen,
		storeLogs:           newStoreLogs(),
	}
	s.tokens.Store(cfg.Tokens)
	if s.store == nil {
		m, err := store.NewMemory(store.MemoryOptions{})
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		s.store = m
	}
	s.bodies = transport.NewBodies(s.limits.MaxRequestBodySize, s.limits.ReadTimeout,
		int64(s.limits.MaxBodyBytesInFlight), int64(s.limits.MaxBodyBytesPerIP), s.bodyRefused)
	if s.deadline <= 0 {
		s.deadline = DefaultDeadline
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, name := range cfg.Backends.Names() {
		s.metrics.Gauge("fanout_backend_calls_in_flight", fmt.Sprintf("backend=%q", name), func() float64 {
			return float64(cfg.Backends.InFlight(name))
		})
	}
	// The deadline is the yardstick of the latency alert: a p99 near it
	// means requests are about to time out.
	s.metrics.Gauge("fanout_request_deadline_seconds", "", s.deadline.Seconds)
	s.unrouted = s.metrics.Route("", "unmatched")
	s.storeMetrics()
	s.resilienceMetrics()
	ps, err := policy.New(policy.Env{Settings: cfg.Policies, Backends: cfg.Backends.Names(), Metrics: s.metrics})
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.policies = ps

	r := router.New()
	// An API answers a wrong path with 404, not with a redirect to a
	// guess; OPTIONS is not part of the API, so it gets 405 like any
	// other method a path does not have.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.HandleMethodNotAllowed = true
	r.NotFound = s.notFound
	r.MethodNotAllowed = s.methodNotAllowed
	r.PanicHandler = s.panicked

	own, err := s.ownRoutes()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, doc := range cfg.Spec.Operations() {
		for _, route := range own {
			if doc.Path == route.path {
				return nil, fmt.Errorf("new server: operation %s: the gateway serves %s itself, outside the document", doc.ID, route.path)
			}
		}
		h, ok := handlers[doc.ID]
		if !ok {
			missing = append(missing, doc.ID)
			continue
		}
		op, err := s.newOperation(doc, h)
		if err != nil {
			return nil, err
		}
		s.ops[doc.ID] = op
		serve := s.serve(op)
		r.Handle(doc.Method, doc.Path, serve)
		// HEAD is GET without the body (RFC 9110, 9.3.2): the same
		// handler, whose body fasthttp leaves unsent.
		if doc.Method == fasthttp.MethodGet {
			r.Handle(fasthttp.MethodHead, doc.Path, serve)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("new server: operations without a handler: %s", strings.Join(missing, ", "))
	}
	var orphans []string
	for id := range handlers {
		if _, ok := s.ops[id]; !ok {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) > 0 {
		sort.Strings(orphans)
		return nil, fmt.Errorf("new server: handlers without an operation in the document: %s", strings.Join(orphans, ", "))
	}
	s.handleOwn(r, own)
	s.router = r
	s.expectRouter = s.newExpectRouter()
	s.admin = s.newAdmin()
	s.srv = &fasthttp.Server{
		Handler:            s.Handler(),
		Name:               "fanout",
		ErrorHandler:       s.requestError,
		ReadTimeout:        s.limits.ReadTimeout,
		WriteTimeout:       s.limits.WriteTimeout,
		IdleTimeout:        s.limits.IdleTimeout,
		MaxRequestBodySize: s.limits.MaxRequestBodySize,
		ReadBufferSize:     s.limits.MaxHeaderSize,
		// A results page (2 to 4 KB) and its headers (about 450 bytes)
		// leave in one write: with fasthttp's 4 KB, a page over about
		// 3.6 KB went out in two system calls and two segments. A
		// connection holds its writer while open: 8 KB each, 80 MB at
		// DefaultMaxClientConns.
		WriteBufferSize: writeBuffer,
		CloseOnShutdown: true,
		// Bodies are read by the handler, under the body budget, once
		// their headers pass: fasthttp would otherwise buffer every body
		// whole before any check.
		StreamRequestBody:     true,
		HeaderReceived:        s.bodies.HeaderReceived,
		ExpectHandler:         s.expect,
		ConnState:             transport.ConnState,
		NoDefaultServerHeader: false,
		Logger:                fasthttpLogger{s.log},
	}
	// Each open client connection holds one goroutine, busy or idle: a
	// leak check subtracts these from go_goroutines.
	s.metrics.Gauge("fanout_client_connections", "", func() float64 {
		return float64(s.srv.GetOpenConnectionsCount())
	})
	// Idle keep-alive connections are the first to give way when a new
	// connection needs a slot.
	s.metrics.Gauge("fanout_client_connections_idle", "", func() float64 {
		if l := s.conns.Load(); l != nil {
			return float64(l.IdleConns())
		}
		return 0
	})
	// Silent connections, open without a byte of a request yet, give way
	// before idle ones.
	s.metrics.Gauge("fanout_client_connections_silent", "", func() float64 {
		if l := s.conns.Load(); l != nil {
			return float64(l.SilentConns())
		}
		return 0
	})
	s.metrics.Gauge("fanout_request_body_bytes_in_flight", "", func() float64 {
		return float64(s.bodies.InUse())
	})
	return s, nil
}

// storeMetrics publishes the figures of an in-memory store's idempotency
// records: how many, their bytes, and how many were evicted to stay
// within the bound. (Redis has its own, INFO memory and evicted_keys.)
func (s *Server) storeMetrics() {
	m, ok := s.store.(*store.Memory)
	if !ok {
		return
	}
	s.metrics.Gauge("fanout_idempotency_records", "", func() float64 { return float64(m.Stats().Records) })
	s.metrics.Gauge("fanout_idempotency_record_bytes", "", func() float64 { return float64(m.Stats().Bytes) })
	s.metrics.CounterFunc("fanout_idempotency_records_evicted_total", "", func() float64 { return float64(m.Stats().Evicted) })
}

// Handler returns the request handler, for tests and in-memory listeners.
func (s *Server) Handler() fasthttp.RequestHandler {
	return s.drainAware(transport.WithRequestID(s.router.Handler))
}

// drainAware closes the connection after each answer once the server
// drains, so that a client's keep-alive connection ends with the request it
// carries and the client's next request opens a new one, which the load
// balancer sends to another replica. Its cost per request is one atomic
// load.
func (s *Server) drainAware(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if s.draining.Load() {
			ctx.SetConnectionClose()
		}
		h(ctx)
	}
}

// Drain is the first step of a graceful stop: from now on /readyz answers
// 503 draining, so that load balancers take this replica out of rotation,
// while the public listener serves on, every answer with Connection:
// close. Shutdown comes next, once the balancers have noticed (the
// gateway's drain delay). Drain is safe to call more than once and from
// any goroutine.
func (s *Server) Drain() { s.draining.Store(true) }

// SetTokens replaces the bearer tokens /v2 accepts with set, at once for
// every request that starts afterwards; requests in progress keep the set
// they began with. It is an error when authentication is off (Config.Tokens
// was nil) or set is nil: reloading cannot switch authentication on or off.
func (s *Server) SetTokens(set *auth.Set) error {
	if !s.authOn {
		return errors.New("set tokens: authentication is off")
	}
	if set == nil {
		return errors.New("set tokens: no tokens")
	}
	s.tokens.Store(set)
	return nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	refused := func(int) { s.metrics.Error(metrics.KindInvalidRequest) }
	l := transport.NewListener(ln, s.limits.MaxClientConns, s.limits.MaxConnsPerIP, s.limits.MaxHeaderSize, s.limits.HeaderTimeout, refused)
	s.lnMu.Lock()
	if s.stopping {
		s.lnMu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.conns.Store(l)
	s.lnMu.Unlock()
	err := s.srv.Serve(l)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections, closes idle ones and waits for the
// requests in flight to finish; then it stops the admin listener, which
// serves until the public one is done. If ctx is done first (the grace
// period is over), it cuts the requests still in flight: each one whose
// answer has not started gets a problem with Connection: close, 503 (safe
// to retry), or 504 (outcome unknown) once a create was sent for it, every
// connection is closed, and how many were cut is logged. That is the end
// of a shutdown, not an error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lnMu.Lock()
	s.stopping = true
	s.lnMu.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	// fasthttp's shutdown closes the listeners its Serve has taken; a
	// Serve called just before may not have taken its own yet, and would
	// then accept for ever: its listener is closed here too.
	if l := s.conns.Load(); l != nil {
		_ = l.Close()
	}
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		n := 0
		if l := s.conns.Load(); l != nil {
			n = l.CutAll()
		}
		s.log.Warn("grace period over: cut the requests in flight", "cut", n)
		if err := s.admin.Close(); err != nil {
			return fmt.Errorf("shutdown admin: %w", err)
		}
		return nil
	}
	if aerr := s.admin.Shutdown(ctx); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// bodyRefused counts a request body refused by its limits: a budget spent
// for everyone is the gateway's unavailability, anything else the
// client's fault.
func (s *Server) bodyRefused(status int) {
	if status == fasthttp.StatusServiceUnavailable {
		s.metrics.Error(metrics.KindUnavailable)
	} else {
		s.metrics.Error(metrics.KindInvalidRequest)
	}
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// serve wraps an operation's handler with what every request gets:
// in-flight accounting, panic recovery, the checks of the client and its
// request (body, overload, token, breakers, validation, project), the
// latency histogram and, once the handler has answered, Server-Timing;
// and a GET's 200 its caching headers, ETag, 304 and compression
// (finishGET).
func (s *Server) serve(op *operation) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		s.metrics.Begin()
		rt := s.startTrace(ctx, op)
		var r *request
		defer func() {
			if v := recover(); v != nil {
				s.recovered(ctx, v)
			}
			if r != nil {
				r.end()
			}
			op.route.Observe(ctx.Response.StatusCode(), time.Since(start))
			s.finish(ctx, op, start, rt)
			s.metrics.End()
		}()
		// A body is received, or refused, before the request counts as
		// in progress: a client trickling its bodies in must not hold
		// places of the overload limit meanwhile, which would shed
		// everyone else's requests.
		var tok *auth.Token
		var b transport.Body
		defer b.Release()
		if op.doc.HasBody() && !s.receive(ctx, op, &tok, &b) {
			return
		}
		// Shedding comes first of the rest: it must cost next to nothing,
		// and an overloaded gateway has no time for anyone, with a token
		// or not.
		admitted, holds := s.admit(ctx, op)
		if !admitted {
			return
		}
		if holds {
			defer s.limiter.Release()
		}
		// Then the token: a client without one learns nothing of the
		// request's other faults, a backend's open breaker included.
		if s.authOn && op.protected && tok == nil {
			if tok = s.authenticate(ctx, op); tok == nil {
				return
			}
		}
		if s.circuitOpen(ctx, op) {
			return
		}
		if op.validate {
			if bad := validate(ctx, op.doc); len(bad) > 0 {
				s.metrics.Error(metrics.KindInvalidRequest)
				p := problem.New(problem.TypeInvalidRequest, fasthttp.StatusBadRequest, invalidDetail(bad))
				p.InvalidParams = bad
				problem.Write(ctx, p)
				return
			}
		}
		r = s.begin(ctx, op, start, rt)
		if s.authorise(r, tok) {
			op.handle(s, r)
		}
		writeTiming(r)
		if op.cacheable {
			s.finishGET(ctx)
		}
	}
}

// receive checks the token and the headers of a request that carries a
// body, then reads the body under the body budget; it answers the request
// itself and returns false when any of them refuses it. The token comes
// first, as for any request, and the headers next, so that a body the
// gateway would refuse anyway is never read. tok is the request's token,
// or nil when authentication is off or the operation is not protected.
func (s *Server) receive(ctx *fasthttp.RequestCtx, op *operation, tok **auth.Token, b *transport.Body) bool {
	if s.authOn && op.protected {
		if *tok = s.authenticate(ctx, op); *tok == nil {
			return false
		}
	}
	return !s.refuseUnsupportedBody(ctx, op) && s.bodies.Read(ctx, b)
}

func invalidDetail(bad []problem.InvalidParam) string {
	var b strings.Builder
	b.WriteString("invalid request: ")
	for i, p := range bad {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %q: %s", p.In, p.Name, p.Reason)
	}
	return b.String()
}

func (s *Server) recovered(ctx *fasthttp.RequestCtx, v any) {
	s.log.Error("panic serving request", "method", string(ctx.Method()), "path", string(ctx.Path()),
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	s.metrics.Error(metrics.KindInternal)
	ctx.Response.Header.Del("Server-Timing")
	problem.Write(ctx, problem.New(problem.TypeInternal, fasthttp.StatusInternalServerError, "the gateway failed to handle the request"))
}

func (s *Server) panicked(ctx *fasthttp.RequestCtx, v any) {
	s.recovered(ctx, v)
}

func (s *Server) notFound(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	s.metrics.Error(metrics.KindNotFound)
	problem.Write(ctx, problem.New(problem.TypeNotFound, fasthttp.StatusNotFound,
		fmt.Sprintf("no operation at %s %s", ctx.Method(), ctx.Path())))
	s.unrouted.Observe(fasthttp.StatusNotFound, time.Since(start))
	s.finishUnrouted(ctx, start)
}

func (s *Server) methodNotAllowed(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	// The router always lists OPTIONS, which this API does not serve.
	var allow []string
	for _, m := range strings.Split(string(ctx.Response.Header.Peek("Allow")), ", ") {
		if m != "" && m != fasthttp.MethodOptions {
			allow = append(allow, m)
		}
	}
	ctx.Response.Header.Set("Allow", strings.Join(allow, ", "))
	problem.Write(ctx, problem.New(problem.TypeMethodNotAllowed, fasthttp.StatusMethodNotAllowed,
		fmt.Sprintf("%s is not allowed on %s; allowed: %s", ctx.Method(), ctx.Path(), ctx.Response.Header.Peek("Allow"))))
	s.unrouted.Observe(fasthttp.StatusMethodNotAllowed, time.Since(start))
	s.finishUnrouted(ctx, start)
}

// requestError answers a request that fasthttp could not read (too large,
// too slow, not HTTP) with a problem instead of fasthttp's plain text;
// fasthttp closes the connection afterwards.
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	// The transport has answered and counted this request already:
	// fasthttp saw the end of its input.
	if transport.Refused(ctx.Conn()) {
		return
	}
	start := time.Now()
	transport.SetRequestID(ctx)
	typ, status := problem.TypeInvalidRequest, fasthttp.StatusBadRequest
	detail := "the request is not valid HTTP/1.1"
	var small *fasthttp.ErrSmallBuffer
	var nerr net.Error
	switch {
	case errors.As(err, &small):
		typ, status = problem.TypeTooLarge, fasthttp.StatusRequestHeaderFieldsTooLarge
		detail = fmt.Sprintf("the request line and headers exceed %d bytes", s.limits.MaxHeaderSize)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		typ, status = problem.TypeTooLarge, fasthttp.StatusRequestEntityTooLarge
		detail = fmt.Sprintf("the request body exceeds %d bytes", s.limits.MaxRequestBodySize)
	case errors.As(err, &nerr) && nerr.Timeout():
		typ, status = problem.TypeRequestTimeout, fasthttp.StatusRequestTimeout
		detail = fmt.Sprintf("the request was not received within %s", s.limits.ReadTimeout)
		if transport.AwaitsHead(ctx.Conn()) {
			detail = fmt.Sprintf("the request line and headers were not received within %s", s.limits.HeaderTimeout)
		}
	}
	s.metrics.Error(metrics.KindInvalidRequest)
	p := problem.New(typ, status, detail)
	// fasthttp may not have parsed the request line: the instance is the
	// path the transport saw, or none.
	p.Instance = transport.Instance(ctx.Conn())
	problem.Send(ctx, p)
	s.unrouted.Observe(status, time.Since(start))
	s.finishUnrouted(ctx, start)
}

// fasthttpLogger sends fasthttp's own messages (e.g. a client's malformed
// request) to slog at debug level: they are the client's problem.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}
