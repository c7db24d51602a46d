// Package mock runs the mock backend services in process: experiments,
// layers, projects and results, each on its own listener, each with the
// latency, fault and capacity model of package model, an admin API under
// /_admin/ and live stats. A request whose client goes away during its
// latency stops waiting, as a real service's would. The mockbackends
// command wraps it; tests of any
// package start a Cluster on 127.0.0.1 port 0 and close it.
package mock

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"fanout/mockbackends/dataset"
	"fanout/mockbackends/model"
)

// Options configure a Cluster. The zero value starts the four services on
// free loopback ports with the default models and data.
type Options struct {
	// Config holds the services' models; nil means model.Default(). A
	// service absent from it gets its default model.
	Config model.Config
	// Addrs maps a service to its listen address; a missing one gets
	// "127.0.0.1:0" (a free port, see Cluster.Addr).
	Addrs map[string]string
	// Seed seeds the data and every random draw (latency, faults).
	Seed uint64
	// NoLatency turns every latency of Config off (spikes included). A
	// later SetConfig or PUT /_admin/config applies as given.
	NoLatency bool
	// Projects and ExperimentsPerProject size the data; 0 means 50 and 20.
	Projects, ExperimentsPerProject int
	// Logger receives the services' logs; nil discards them.
	Logger *slog.Logger
}

// Cluster is the set of running services. Its methods are safe for
// concurrent use.
type Cluster struct {
	services  map[string]*service
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start listens on every service's address and serves until Close.
func Start(opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = model.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("start mock backends: %w", err)
	}
	if opts.NoLatency {
		cfg = withoutLatency(cfg)
	}
	for name := range opts.Addrs {
		if !model.KnownService(name) {
			return nil, fmt.Errorf("start mock backends: unknown service %q in addresses (want one of %v)", name, model.Services)
		}
	}
	data, err := dataset.New(dataset.Options{Seed: opts.Seed, Projects: opts.Projects, ExperimentsPerProject: opts.ExperimentsPerProject})
	if err != nil {
		return nil, fmt.Errorf("start mock backends: %w", err)
	}
	c := &Cluster{services: map[string]*service{}}
	for i, name := range model.Services {
		addr := opts.Addrs[name]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		// Each service times its own delays: no lock is shared between
		// services on the hot path.
		sl, err := newSleeper()
		if err != nil {
			log.Warn("precise timer unavailable, using Go timers (delays may run up to 1 ms long)", "service", name, "err", err)
		}
		s := &service{
			name:     name,
			resource: resourceNames[name],
			sleep:    sl,
			routes:   model.ServiceRoutes(name),
			data:     data,
			log:      log,
			seed:     opts.Seed ^ uint64(i+1)<<48,
			closing:  make(chan struct{}),
			hijacked: map[net.Conn]struct{}{},
			conns:    map[net.Conn]struct{}{},
		}
		if name == model.ServiceExperiments {
			s.store = &store{}
		}
		s.stats.routes = make([]counters, len(s.routes))
		s.policy.Store(compile(name, cfg[name].Clone()))
		s.srv = &fasthttp.Server{
			Handler:               s.handle,
			ConnState:             s.connState,
			NoDefaultServerHeader: true, // nothing tells a gateway that this backend is a mock
			NoDefaultContentType:  true,
			MaxRequestBodySize:    1 << 20,
			IdleTimeout:           90 * time.Second,
			CloseOnShutdown:       true,
			Logger:                fasthttpLogger{log: log, service: name},
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			sl.close()
			_ = c.Close()
			return nil, fmt.Errorf("start mock backends: listen %s on %s: %w", name, addr, err)
		}
		s.ln = ln
		c.services[name] = s
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := s.srv.Serve(ln); err != nil {
				log.Error("serve", "service", name, "err", err)
			}
		}()
		log.Info("listening", "service", name, "addr", ln.Addr().String(), "model", describe(cfg, name))
	}
	return c, nil
}

// withoutLatency returns cfg with every latency set to none.
func withoutLatency(cfg model.Config) model.Config {
	out := model.Config{}
	none := model.None()
	for _, name := range model.Services {
		s := cfg[name].Clone()
		l := none
		s.Latency = &l
		for r, rt := range s.Routes {
			if rt.Latency != nil {
				l := none
				rt.Latency = &l
				s.Routes[r] = rt
			}
		}
		out[name] = s
	}
	return out
}

// describe summarises a service's model for the start-up log.
func describe(cfg model.Config, name string) string {
	s := cfg[name]
	out := cfg.RouteLatency(name, "").String()
	if s.Faults != nil && s.Faults.Total() > 0 {
		out += fmt.Sprintf(" faults=%+v", *s.Faults)
	}
	if s.MaxInFlight > 0 {
		out += fmt.Sprintf(" max_in_flight=%d queue_limit=%d", s.MaxInFlight, s.QueueLimit)
	}
	if len(s.Routes) > 0 {
		out += fmt.Sprintf(" route_overrides=%d", len(s.Routes))
	}
	return out
}

// Addr returns the bound address of a service ("127.0.0.1:port"), or ""
// for an unknown service.
func (c *Cluster) Addr(service string) string {
	s, ok := c.services[service]
	if !ok {
		return ""
	}
	return s.ln.Addr().String()
}

// Addrs returns the bound address of every service.
func (c *Cluster) Addrs() map[string]string {
	out := make(map[string]string, len(c.services))
	for name := range c.services {
		out[name] = c.Addr(name)
	}
	return out
}

// SetConfig atomically replaces the model of one service, as PUT
// /_admin/config does. An invalid model is an error that names the field,
// and the old model stays.
func (c *Cluster) SetConfig(service string, s model.Service) error {
	svc, ok := c.services[service]
	if !ok {
		return fmt.Errorf("set config: unknown service %q", service)
	}
	if err := svc.setPolicy(s); err != nil {
		return fmt.Errorf("set config of %s: %w", service, err)
	}
	return nil
}

// Config returns the model a service runs with now.
func (c *Cluster) Config(service string) model.Service {
	if s, ok := c.services[service]; ok {
		return s.policy.Load().svc.Clone()
	}
	return model.Service{}
}

// Stats returns the counters of a service (zero Stats for an unknown one).
func (c *Cluster) Stats(service string) Stats {
	s, ok := c.services[service]
	if !ok {
		return Stats{Service: service}
	}
	return s.stats.snapshot(service, s.routes)
}

// ResetStats zeroes the counters of every service, as POST /_admin/reset
// does for one.
func (c *Cluster) ResetStats() {
	for _, s := range c.services {
		s.stats.reset()
	}
}

// closeGrace bounds how long Close waits for requests in flight (sleeping
// through their latency) before it closes their connections.
const closeGrace = 5 * time.Second

// Close stops every service: it stops accepting, ends hanging requests,
// lets requests in flight finish (up to a grace period) and returns when
// every goroutine of the cluster has ended. It is safe to call twice.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for name, s := range c.services {
			s.mu.Lock()
			close(s.closing)
			s.mu.Unlock()
			s.closeAll(s.hijacked)
			wg.Add(1)
			go func() {
				defer wg.Done()
				shut := make(chan error, 1)
				go func() { shut <- s.srv.ShutdownWithContext(ctx) }()
				// Once no request is in flight, every connection left is
				// idle or has never sent a request: close them all.
				for s.stats.total.inFlight.Load()+s.stats.total.queued.Load() > 0 && ctx.Err() == nil {
					time.Sleep(2 * time.Millisecond)
				}
				s.closeAll(s.conns)
				if err := <-shut; err != nil {
					mu.Lock()
					c.closeErr = fmt.Errorf("close %s: %w", name, err)
					mu.Unlock()
				}
				// Serve may not have registered its listener yet when
				// Shutdown ran; closing it here ends Serve either way.
				_ = s.ln.Close()
				s.hangs.Wait()
			}()
		}
		wg.Wait()
		c.wg.Wait()
		for _, s := range c.services {
			s.sleep.close()
		}
	})
	return c.closeErr
}

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct {
	log     *slog.Logger
	service string
}

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "service", l.service)
}
