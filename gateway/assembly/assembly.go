// Package assembly is the gateway put together: the OpenAPI document the
// binary embeds, the fan-out plans compiled from it, and the wiring of
// that document, the executor, the backend clients and the server from one
// config. The gateway command, the gateway's tests and the bench all go
// through it, so they serve the same document and reason about the very
// plans the server runs.
package assembly

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/spec"
	"fanout/gateway/internal/store"
	"fanout/gateway/internal/tracing"
)

//go:embed openapi.yaml
var document []byte

// Document returns the gateway's OpenAPI document as the binary embeds it,
// extensions (x-fanout) included. The gateway serves its public view at
// /openapi.yaml and /openapi.json (spec.Spec's PublicYAML and PublicJSON).
// The caller owns the copy.
func Document() []byte { return bytes.Clone(document) }

// loadSpec loads the document once per process: it is read-only after
// loading, and validating it costs a few milliseconds each time.
var loadSpec = sync.OnceValues(func() (*spec.Spec, error) { return spec.Load(document) })

// Spec returns the embedded document, loaded and validated, with every
// operation's compiled plan. It is shared and safe for concurrent use;
// callers must not modify it.
func Spec() (*spec.Spec, error) { return loadSpec() }

// Plan is one public operation that fans out, and the plan the server runs
// for it.
type Plan struct {
	ID     string // operationId
	Method string // upper-case HTTP method
	Path   string // the document's path template, e.g. /v2/experiments/{experiment_id}/results
	Plan   *fanout.Plan
}

// Plans returns the plan of every operation of the embedded document that
// has an x-fanout extension, sorted by path then method. The plans are the
// server's own, compiled once per process: read-only, safe for concurrent
// use.
func Plans() ([]Plan, error) {
	s, err := Spec()
	if err != nil {
		return nil, err
	}
	var plans []Plan
	for _, op := range s.Operations() {
		if op.Plan != nil {
			plans = append(plans, Plan{ID: op.ID, Method: op.Method, Path: op.Path, Plan: op.Plan})
		}
	}
	return plans, nil
}

// Gateway is the assembled gateway: its server, its executor and its
// backend clients, and the listeners it serves once started. It is safe for
// concurrent use.
type Gateway struct {
	srv      *server.Server
	exec     fanout.Executor
	backends *backend.Clients

	serving sync.WaitGroup
	mu      sync.Mutex
	errs    []error // of listeners that stopped with an error
	failed  chan struct{}
	fail    sync.Once

	// store holds rate limits and idempotency records; closed by Shutdown.
	store store.Store
	// overload is the shedding limiter, whose ticker Shutdown stops; nil
	// with shedding off.
	overload *overload.Limiter
	// devToken is the secret of the generated development token, if any.
	devToken string
	// tokensFile is the tokens file Reload reads again; "": none.
	tokensFile string
	// cert is the public listener's certificate; nil: plain HTTP.
	cert *certificate
	log  *slog.Logger
	// tracer exports the spans; nil when tracing is off. Shutdown
	// flushes it.
	tracer *tracing.Tracer
}

// New assembles a gateway from cfg: the embedded document, the executor of
// cfg.Mode, the clients of cfg.Backends with cfg.Options, and the server
// with cfg.Limits. cfg is taken as given (config.Parse validates what a
// user writes); zero limits and options take their packages' defaults,
// except that a call waits for a free backend connection at most
// cfg.Deadline. log receives the gateway's logs; nil: slog.Default().
func New(cfg config.Config, log *slog.Logger) (*Gateway, error) {
	doc, err := Spec()
	if err != nil {
		return nil, err
	}
	if err := knownBackends(doc, cfg.Backends); err != nil {
		return nil, err
	}
	opts := cfg.Options
	if opts.MaxConnWaitTimeout <= 0 {
		// Waiting longer than the request may last helps nobody.
		opts.MaxConnWaitTimeout = cfg.Deadline
	}
	clients, err := backend.New(cfg.Backends, opts)
	if err != nil {
		return nil, err
	}
	exec, err := fanout.New(cfg.Mode, fanout.Options{PoolSize: cfg.PoolSize})
	if err != nil {
		return nil, err
	}
	if cfg.Work > 0 {
		exec = withWork(exec, cfg.Work)
	}
	if log == nil {
		log = slog.Default()
	}
	// undo stops, last first, what has been started, if a later step
	// fails: one list, so that no failure path forgets a part.
	var undo []func()
	failed := func(err error) (*Gateway, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}
	undo = append(undo, func() { closeExecutor(exec) })
	policies, err := resilience(cfg.Resilience, clients.Names(), log)
	undo = append(undo, func() { closeOverload(policies.Overload) })
	if err != nil {
		return failed(err)
	}
	var cert *certificate
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cert, err = loadCertificate(cfg.TLSCert, cfg.TLSKey); err != nil {
			return failed(err)
		}
	}
	a, err := newAccess(cfg, log)
	if err != nil {
		return failed(err)
	}
	undo = append(undo, func() { a.store.Close() })
	ops, err := newObservers(cfg, log)
	if err != nil {
		return failed(err)
	}
	undo = append(undo, func() { _ = ops.tracer.Shutdown(context.Background()) })
	settings := policies.Policies
	settings.HedgeBudget = float64(cfg.HedgeBudget)
	settings.NoCoalesce = !bool(cfg.Coalesce)
	srv, err := server.New(server.Config{
		Spec:      doc,
		Executor:  exec,
		Backends:  clients,
		Deadline:  cfg.Deadline,
		Logger:    log,
		Limits:    cfg.Limits,
		Policies:  settings,
		Overload:  policies.Overload,
		Tokens:    a.tokens,
		Store:     a.store,
		Pprof:     cfg.Pprof,
		Tracer:    ops.tracer,
		AccessLog: ops.access,

		RateLimitFailClosed: cfg.RateLimitOnStoreError == config.FailClosed,
		IdempotencyFailOpen: cfg.IdempotencyOnStoreError == config.FailOpen,
	})
	if err != nil {
		return failed(err)
	}
	g := &Gateway{srv: srv, exec: exec, backends: clients, failed: make(chan struct{}), store: a.store, overload: policies.Overload, devToken: a.dev, cert: cert, log: log,
		tracer: ops.tracer}
	if a.tokens != nil && a.dev == "" {
		g.tokensFile = cfg.Tokens
	}
	return g, nil
}

// knownBackends refuses a configured backend that no call of the document
// names: a misspelt -backend result=HOST:PORT would otherwise be accepted
// and ignored, and the calls it was meant for would go to the default
// address of "results". The error names the backends the document calls.
func knownBackends(doc *spec.Spec, backends map[string]backend.Backend) error {
	var known []string
	for _, op := range doc.Operations() {
		if op.Fanout == nil {
			continue
		}
		for _, c := range op.Fanout.Calls {
			if !slices.Contains(known, c.Backend) {
				known = append(known, c.Backend)
			}
		}
	}
	slices.Sort(known)
	for _, name := range slices.Sorted(maps.Keys(backends)) {
		if !slices.Contains(known, name) {
			return fmt.Errorf("backends: unknown backend %q: the document calls %s", name, strings.Join(known, ", "))
		}
	}
	return nil
}

// Server returns the gateway's server, for its handler and metrics.
func (g *Gateway) Server() *server.Server { return g.srv }

// Backends returns the gateway's backend clients.
func (g *Gateway) Backends() *backend.Clients { return g.backends }

// Start serves the public API on ln and, unless admin is nil, the
// operations endpoints on admin, each in its own goroutine, until Shutdown.
func (g *Gateway) Start(ln, admin net.Listener) {
	g.start(g.srv.Serve, ln)
	if admin != nil {
		g.start(g.srv.ServeAdmin, admin)
	}
}

// Listen listens on TCP addr for the public API, over TLS when the config
// names a certificate, and, unless admin is config.AdminOff, on admin for
// the operations endpoints, and serves them as Start does. It returns the
// addresses bound (port 0 picks a free one); the admin one is nil when off.
func (g *Gateway) Listen(addr, admin string) (public, ops net.Addr, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	if g.cert != nil {
		// The handshake runs on the connection's first read, in the
		// server's goroutine for it, under the header timeout that the
		// connection limit sets: a client that never finishes its
		// handshake holds a slot no longer than one that never sends
		// its request line.
		ln = tls.NewListener(ln, g.cert.config())
	}
	var adminLn net.Listener
	if admin != config.AdminOff {
		if adminLn, err = net.Listen("tcp", admin); err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("listen admin: %w", err)
		}
		ops = adminLn.Addr()
	}
	g.Start(ln, adminLn)
	return ln.Addr(), ops, nil
}

func (g *Gateway) start(serve func(net.Listener) error, ln net.Listener) {
	g.serving.Go(func() {
		// Serve returns nil after a graceful Shutdown: an error means
		// the listener stopped on its own.
		if err := serve(ln); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, err)
			g.mu.Unlock()
			g.fail.Do(func() { close(g.failed) })
		}
	})
}

// Failed is closed when a listener Start serves stops with an error before
// Shutdown; Shutdown returns that error.
func (g *Gateway) Failed() <-chan struct{} { return g.failed }

// FlushGrace is how long Shutdown may take to export the spans it still
// holds once its context is done.
const FlushGrace = 2 * time.Second

// Shutdown stops the server as server.Shutdown does (cutting what still
// runs when ctx is done), waits for the listeners Start serves, then stops
// the executor and the shedding limiter's ticker, closes the idle backend
// connections and the store, and exports the spans not exported yet (for
// FlushGrace more if ctx is done). It returns the errors of all of that, and of listeners
// that failed before. Call it once.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.srv.Shutdown(ctx)
	g.serving.Wait()
	if cerr := closeExecutor(g.exec); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close executor: %w", cerr))
	}
	closeOverload(g.overload)
	g.backends.CloseIdleConnections()
	if serr := g.store.Close(); serr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", serr))
	}
	// Last, so that the spans of the requests the shutdown let finish
	// are exported too, within what is left of ctx; once the grace period
	// is over, within FlushGrace more: the spans of the requests it cut
	// are the ones an operator will look for.
	fctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), FlushGrace)
		defer cancel()
	}
	if terr := g.tracer.Shutdown(fctx); terr != nil {
		err = errors.Join(err, terr)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(append([]error{err}, g.errs...)...)
}

// closeOverload stops the shedding limiter's ticker, if shedding is on.
func closeOverload(l *overload.Limiter) {
	if l != nil {
		l.Close()
	}
}

// closeExecutor stops an executor that holds workers (the pool).
func closeExecutor(e fanout.Executor) error {
	if c, ok := e.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
