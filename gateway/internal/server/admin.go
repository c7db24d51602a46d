package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"time"

	"fanout/gateway/internal/problem"
)

// Timeouts of the admin listener. Its write timeout leaves room for a CPU
// profile, 30 s by default.
const (
	adminReadTimeout  = 10 * time.Second
	adminWriteTimeout = 2 * time.Minute
	adminIdleTimeout  = time.Minute
)

// AdminHandler serves the operations endpoints, which are not part of the
// public API: /healthz, /readyz, /metrics and, with Config.Pprof, the
// profiler under /debug/pprof/. The profiler's cmdline is never served: the
// command line may carry a secret (a password in -redis's URL).
// They live on their own listener (ServeAdmin) so that clients of the
// public port can neither read them nor, by taking every connection slot,
// lock operators out of them.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", s.readiness)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.WritePrometheus(w)
	})
	if !s.pprof {
		return mux
	}
	// pprof.Index answers /debug/pprof/cmdline with 404: it serves only
	// the runtime's profiles by name.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeAdmin serves AdminHandler on ln until Shutdown. It returns nil after
// a graceful Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error {
	err := s.admin.Serve(ln)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admin %s: %w", ln.Addr(), err)
	}
	return nil
}

func (s *Server) newAdmin() *http.Server {
	return &http.Server{
		Handler:           s.AdminHandler(),
		ReadHeaderTimeout: adminReadTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    s.limits.MaxHeaderSize,
	}
}

// readinessTimeout bounds the dial of each backend by /readyz.
const readinessTimeout = time.Second

// readiness answers 503 draining once the server drains (Drain), without
// checking the backends: the replica is on its way out whatever their
// state. Otherwise it answers 200 when every backend accepts connections,
// else 503 with a problem that names the unreachable backends. Their
// addresses and the causes go to the log, not to the answer: whoever reads
// /readyz need not learn the internal network.
func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		p := problem.New(problem.TypeNotReady, http.StatusServiceUnavailable, "draining: the gateway is stopping")
		p.Instance = r.URL.Path
		writeProblem(w, p)
		return
	}
	c, cancel := context.WithTimeout(r.Context(), readinessTimeout)
	defer cancel()
	failed := s.backends.Check(c)
	if len(failed) == 0 {
		backends := map[string]string{}
		for _, n := range s.backends.Names() {
			backends[n] = "ok"
		}
		b, _ := json.Marshal(struct {
			Status   string            `json:"status"`
			Backends map[string]string `json:"backends"`
		}{"ready", backends})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
		s.log.Warn("backend unreachable", "backend", n, "addr", s.backends.Addr(n), "err", failed[n])
	}
	sort.Strings(names)
	p := problem.New(problem.TypeNotReady, http.StatusServiceUnavailable, "unreachable backends: "+strings.Join(names, ", "))
	p.Unreachable = names
	p.Instance = r.URL.Path
	writeProblem(w, p)
}

// writeProblem answers an admin request with p.
func writeProblem(w http.ResponseWriter, p problem.Problem) {
	b, _ := json.Marshal(p) // a Problem holds only strings and ints
	w.Header().Set("Content-Type", problem.ContentType)
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}
