// Package stage is Fanout's live dashboard for talks: it starts the mock
// backends and a gateway behind a stable address, offers the results page
// to it at a rate the speaker sets, and serves one local web page (its
// assets embedded: it works offline) whose charts move about four times a
// second over Server-Sent Events: answers per second by kind, p50 and p99
// against the critical path and the sum, requests in flight at the gateway
// and at each backend, and the waterfall of the latest request.
//
// The page's controls switch the gateway's mode (by restarting it behind
// the same address, with a marker on every chart), change the offered rate,
// each backend's latency and faults (through the mocks' admin API) and the
// gateway's policies, and play the acts of `bench demo` as scenes. What was
// shown can be saved as one self-contained HTML file.
//
// The stage costs the gateway nothing it would not spend anyway: the
// figures are the load's own samples, the gateway's /metrics and the mocks'
// stats, read from outside.
//
// The bench command runs it as `bench stage [flags]`.
package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"fanout/bench/demo"
	"fanout/bench/launch"
	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

// Defaults of a stage, also the flags' defaults.
const (
	// DefaultTick is how often the page gets a frame.
	DefaultTick = 250 * time.Millisecond
	// DefaultWindow is the sliding window of the percentiles: long enough
	// for a p99 of a few hundred answers at a talk's rates, short enough
	// that a change shows within seconds.
	DefaultWindow = 2 * time.Second
	// DefaultDeadline is the gateway's deadline of one public request
	// (the gateway's own default, passed explicitly so the page can draw it).
	DefaultDeadline = 2 * time.Second
	// DefaultRate is the offered rate a stage starts with, requests/s:
	// under what blocking serves (1 / 85 ms of backend time with the
	// default models), so every mode starts healthy.
	DefaultRate = 8
	// MaxRate is the most the slider offers: past it a laptop's load
	// generator, not the gateway, is what the charts would show.
	MaxRate = 2000
	// history is how many frames the stage keeps for a page that (re)loads
	// and for the recording: an hour at the default tick.
	history = 14400
	// stopGrace bounds how long a replaced gateway may finish what it has
	// in flight (an overloaded blocking gateway has a queue, which its
	// deadline empties).
	stopGrace = 3 * time.Second
)

// Options configure a stage. Start from DefaultOptions.
type Options struct {
	// Addr is the page's listen address (host:port; port 0 picks one).
	Addr string
	// GatewayAddr is the stable address of the gateway, which the load
	// uses and the page shows (port 0 picks one).
	GatewayAddr string
	// Gateway is the gateway's first mode and policies.
	Gateway Gateway
	// Rate is the first offered rate, requests per second (0: no load).
	Rate float64
	// Tick is how often a frame is made; Window the percentiles' window.
	Tick, Window time.Duration
	// Deadline is the gateway's deadline of one public request.
	Deadline time.Duration
	// Bins are prebuilt binaries; an empty path builds that program.
	Bins launch.Binaries
	// Logs receives the processes' standard error; nil discards it.
	Logs io.Writer
}

// DefaultOptions returns the settings of `bench stage` without flags.
func DefaultOptions() Options {
	return Options{
		Addr:        "127.0.0.1:0",
		GatewayAddr: "127.0.0.1:0",
		Gateway:     DefaultGateway,
		Rate:        DefaultRate,
		Tick:        DefaultTick,
		Window:      DefaultWindow,
		Deadline:    DefaultDeadline,
	}
}

// Validate reports the first setting the stage cannot run with, in the
// words of its flag.
func (o Options) Validate() error {
	if err := o.Gateway.Validate(); err != nil {
		return fmt.Errorf("-mode/-pool-size: %w", err)
	}
	switch {
	case o.Rate < 0 || o.Rate > MaxRate:
		return fmt.Errorf("-rate %v: want 0 to %d requests/s", o.Rate, MaxRate)
	case o.Tick < 10*time.Millisecond:
		return fmt.Errorf("-tick %v: want at least 10ms", o.Tick)
	case o.Window < o.Tick:
		return fmt.Errorf("-window %v: want at least the tick (%v)", o.Window, o.Tick)
	case o.Deadline <= 0:
		return errors.New("-deadline must be positive")
	}
	return nil
}

// Stage is a running stage. Its methods are safe for concurrent use.
type Stage struct {
	o     Options
	start time.Time
	bins  launch.Binaries
	// ctx bounds the processes' lives and the ticker's; Close cancels it
	// once the processes have stopped.
	ctx    context.Context
	cancel context.CancelFunc

	mocks *launch.Proc
	fwd   *forwarder
	win   *window
	load  *loader
	hub   *hub
	page  net.Listener
	http  *http.Server

	// control serialises the controls: one restart or model change at a
	// time, in the order the page sent them.
	control sync.Mutex

	// mu guards what the controls change and the ticker and the page read.
	mu       sync.Mutex
	gw       *launch.Proc
	admin    string // the current gateway's admin address (/metrics)
	settings Gateway
	models   model.Config
	lim      Limits
	scene    int // index of the last scene played, -1 for none
	frames   []Frame
	markers  []Marker

	stopping sync.WaitGroup // replaced gateways still finishing
	ticker   sync.WaitGroup
	stopTick context.CancelFunc
}

// Start builds (unless Bins names them) and starts the mock backends, the
// gateway behind a stable address and the page, then the load. ctx bounds
// the start; the stage then runs until Close, which the caller must call
// (bench stage calls it on Ctrl-C), so that the processes stop gracefully
// rather than die with a context. A stage that fails to start has stopped
// whatever it had started.
func Start(ctx context.Context, o Options) (_ *Stage, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	bins, err := o.Bins.Build(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stage{
		o:        o,
		start:    time.Now(),
		bins:     bins,
		win:      &window{span: o.Window},
		hub:      newHub(),
		scene:    -1,
		models:   model.Default(),
		stopTick: func() {},
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	// Until Start returns, ctx ending (Ctrl-C while the processes start)
	// stops them; after, only Close does.
	stopWatching := context.AfterFunc(ctx, s.cancel)
	defer func() {
		stopWatching()
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("start the stage: %w", ctx.Err())
		}
		if err != nil {
			s.Close()
		}
	}()
	if s.lim, err = routeLimits(s.models, o.Deadline); err != nil {
		return nil, err
	}
	if s.mocks, err = launch.StartMocks(s.ctx, bins.Mocks, []string{"-log-level", "warn"}, o.Logs); err != nil {
		return nil, err
	}
	gw, err := s.startGateway(o.Gateway)
	if err != nil {
		return nil, err
	}
	s.gw, s.admin, s.settings = gw, gw.Addr("admin"), o.Gateway
	if s.fwd, err = listenForwarder(o.GatewayAddr, gw.Addrs["gateway"]); err != nil {
		return nil, err
	}
	if s.page, err = net.Listen("tcp", o.Addr); err != nil {
		return nil, fmt.Errorf("listen for the page on %s: %w", o.Addr, err)
	}
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(s.page) }()
	s.load = newLoader("http://"+s.fwd.Addr(), s.win)
	s.mark(o.Gateway.Label() + " at " + formatRate(o.Rate))
	if err := s.load.setRate(o.Rate); err != nil {
		return nil, err
	}
	var tickCtx context.Context
	tickCtx, s.stopTick = context.WithCancel(s.ctx)
	s.ticker.Go(func() { s.tick(tickCtx) })
	return s, nil
}

// URL is the page's address.
func (s *Stage) URL() string { return "http://" + s.page.Addr().String() + "/" }

// GatewayAddr is the stable address of the gateway.
func (s *Stage) GatewayAddr() string { return s.fwd.Addr() }

// Close stops the load, the page, the gateway and the mocks, and waits for
// them. It returns the first error of stopping a process.
func (s *Stage) Close() error {
	if s.load != nil {
		// No new requests; those in flight end when the stable address
		// closes below, rather than wait for a queue to drain.
		_ = s.load.setRate(0)
	}
	s.stopTick()
	s.ticker.Wait()
	if s.http != nil {
		// The page's event streams never end by themselves: close, not
		// Shutdown.
		_ = s.http.Close()
	}
	s.hub.close()
	if s.fwd != nil {
		s.fwd.stop()
	}
	if s.load != nil {
		s.load.stop()
	}
	var first error
	s.mu.Lock()
	gw := s.gw
	s.mu.Unlock()
	if gw != nil {
		first = gw.Stop(stopGrace)
	}
	s.stopping.Wait()
	if s.mocks != nil {
		if err := s.mocks.Stop(stopGrace); err != nil && first == nil {
			first = err
		}
	}
	s.cancel()
	return first
}

// startGateway starts a gateway with g, its admin listener on (the page
// reads its /metrics), pointed at the stage's mocks.
func (s *Stage) startGateway(g Gateway) (*launch.Proc, error) {
	args := append([]string{"-deadline", s.o.Deadline.String(), "-log-level", "warn"}, g.args()...)
	return launch.StartGateway(s.ctx, s.bins.Gateway, launch.Gateway{Mode: g.Mode, PoolSize: g.PoolSize, Admin: true, Args: args}, s.mocks, s.o.Logs)
}

// SetGateway restarts the gateway with g behind the stable address: the new
// one starts first, takes the connections from then on, and the old one
// finishes what it has in flight. A marker names the change.
func (s *Stage) SetGateway(g Gateway) error {
	if err := g.Validate(); err != nil {
		return badRequest("%v", err)
	}
	s.control.Lock()
	defer s.control.Unlock()
	if err := s.setGateway(g); err != nil {
		return err
	}
	s.mark(g.Label())
	return nil
}

// setGateway restarts the gateway with g; the caller marks the change.
func (s *Stage) setGateway(g Gateway) error {
	gw, err := s.startGateway(g)
	if err != nil {
		return err
	}
	s.fwd.setTarget(gw.Addrs["gateway"])
	admin := gw.Addr("admin")
	s.mu.Lock()
	old := s.gw
	s.gw, s.admin, s.settings = gw, admin, g
	s.mu.Unlock()
	s.stopping.Go(func() { _ = old.Stop(stopGrace) })
	return nil
}

// SetRate offers rate requests per second from now on (0 stops the load).
func (s *Stage) SetRate(rate float64) error {
	if !(rate >= 0 && rate <= MaxRate) {
		return badRequest("rate %v: want 0 to %d requests/s", rate, MaxRate)
	}
	s.control.Lock()
	defer s.control.Unlock()
	return s.setRate(rate)
}

func (s *Stage) setRate(rate float64) error {
	if err := s.load.setRate(rate); err != nil {
		return err
	}
	s.mark(formatRate(rate))
	return nil
}

// Backend is what the page sets of one backend: its latency model, in the
// mocks' short form ("fixed:40ms", "lognormal:p50=40ms,p99=200ms"), and
// the shares of its calls that fail with each of the mocks' faults: a 500,
// no answer, a reset connection, a malformed body, a deeply nested body,
// a stray answer after the real one.
type Backend struct {
	Latency   string  `json:"latency"`
	Error     float64 `json:"error"`
	Hang      float64 `json:"hang"`
	Reset     float64 `json:"reset"`
	Malformed float64 `json:"malformed"`
	Nested    float64 `json:"nested"`
	Stray     float64 `json:"stray"`
}

// service turns b into the mocks' model of service svc.
func (b Backend) service(svc string) (model.Service, error) {
	l, err := model.ParseLatency(b.Latency)
	if err != nil {
		return model.Service{}, badRequest("%s: latency: %v", svc, err)
	}
	m := model.Service{Latency: &l, Faults: &model.Faults{
		Error: b.Error, Hang: b.Hang, Reset: b.Reset, Malformed: b.Malformed, Nested: b.Nested, Stray: b.Stray,
	}}
	if err := m.Validate(svc); err != nil {
		return model.Service{}, badRequest("%s: %v", svc, err)
	}
	return m, nil
}

// backendOf is the page's view of a service's model.
func backendOf(m model.Service) Backend {
	var b Backend
	if m.Latency != nil {
		b.Latency = m.Latency.String()
	}
	if f := m.Faults; f != nil {
		b.Error, b.Hang, b.Reset, b.Malformed, b.Nested, b.Stray = f.Error, f.Hang, f.Reset, f.Malformed, f.Nested, f.Stray
	}
	return b
}

// SetBackend replaces the model of backend svc through the mocks' admin
// API, and the limits drawn on the charts with it.
func (s *Stage) SetBackend(svc string, b Backend) error {
	if !model.KnownService(svc) {
		return badRequest("unknown backend %q (backends: %v)", svc, model.Services)
	}
	m, err := b.service(svc)
	if err != nil {
		return err
	}
	s.control.Lock()
	defer s.control.Unlock()
	if err := s.setModels(map[string]model.Service{svc: m}); err != nil {
		return err
	}
	s.mark(svc + " " + describe(backendOf(m)))
	return nil
}

// setModels gives the mocks the models of set and recomputes the limits.
func (s *Stage) setModels(set map[string]model.Service) error {
	s.mu.Lock()
	models := s.models.Clone()
	s.mu.Unlock()
	for svc, m := range set {
		if err := launch.SetModel(s.ctx, s.mocks.Addrs[svc], svc, m); err != nil {
			return err
		}
		models[svc] = m
	}
	lim, err := routeLimits(models, s.o.Deadline)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.models, s.lim = models, lim
	s.mu.Unlock()
	return nil
}

// describe writes a backend's model as a marker does: "fixed:200ms, 10% errors".
func describe(b Backend) string {
	s := b.Latency
	for _, f := range []struct {
		share float64
		name  string
	}{{b.Error, "errors"}, {b.Hang, "hang"}, {b.Reset, "reset"}, {b.Malformed, "malformed"}, {b.Nested, "nested"}, {b.Stray, "stray"}} {
		if f.share > 0 {
			s += fmt.Sprintf(", %g%% %s", 100*f.share, f.name)
		}
	}
	return s
}

// PlayScene sets everything scene i of Scenes says: the backends' default
// models, the gateway and the rate, with the scene's caption as the marker.
func (s *Stage) PlayScene(i int) error {
	scenes := Scenes()
	if i < 0 || i >= len(scenes) {
		return badRequest("scene %d: want 0 to %d", i, len(scenes)-1)
	}
	sc := scenes[i]
	s.control.Lock()
	defer s.control.Unlock()
	if err := s.setModels(model.Default()); err != nil {
		return err
	}
	s.mu.Lock()
	same := s.settings == sc.Gateway
	s.mu.Unlock()
	if !same {
		if err := s.setGateway(sc.Gateway); err != nil {
			return err
		}
	}
	if err := s.load.setRate(sc.Rate); err != nil {
		return err
	}
	s.mu.Lock()
	s.scene = i
	s.mu.Unlock()
	// One marker for the whole scene: its caption says what changed.
	s.mark(fmt.Sprintf("%d. %s", i+1, sc.Caption))
	return nil
}

// Limits are what the backends' models allow the results page, in
// milliseconds, and the gateway's deadline: the lines the latency chart
// draws its p50 and p99 against.
type Limits struct {
	CriticalP50 float64 `json:"critical_p50"`
	CriticalP99 float64 `json:"critical_p99"`
	SumP50      float64 `json:"sum_p50"`
	SumP99      float64 `json:"sum_p99"`
	Deadline    float64 `json:"deadline"`
}

// routeLimits computes the results page's limits under models.
func routeLimits(models model.Config, deadline time.Duration) (Limits, error) {
	l, err := demo.RouteLimits(demo.ResultsRoute, models)
	if err != nil {
		return Limits{}, err
	}
	return Limits{
		CriticalP50: msf(l.CriticalPath.P50), CriticalP99: msf(l.CriticalPath.P99),
		SumP50: msf(l.Sum.P50), SumP99: msf(l.Sum.P99), Deadline: msf(deadline),
	}, nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Marker is a change made on stage, drawn on every chart at its time.
type Marker struct {
	T     float64 `json:"t"` // seconds since the stage started
	Label string  `json:"label"`
}

// mark records a marker now and sends it to the pages.
func (s *Stage) mark(label string) {
	m := Marker{T: time.Since(s.start).Seconds(), Label: label}
	s.mu.Lock()
	s.markers = append(s.markers, m)
	s.mu.Unlock()
	s.hub.send("marker", m)
}

// State is everything the page needs to draw itself: the settings, the
// scenes and the history so far.
type State struct {
	Gateway     Gateway            `json:"gateway"`
	GatewayAddr string             `json:"gateway_addr"`
	Rate        float64            `json:"rate"`
	MaxRate     float64            `json:"max_rate"`
	Modes       []string           `json:"modes"`
	Backends    map[string]Backend `json:"backends"`
	Services    []string           `json:"services"`
	Limits      Limits             `json:"limits"`
	Scenes      []Scene            `json:"scenes"`
	Scene       int                `json:"scene"`
	Tick        float64            `json:"tick"`   // seconds
	Window      float64            `json:"window"` // seconds
	Frames      []Frame            `json:"frames"`
	Markers     []Marker           `json:"markers"`
}

// State returns the stage's state now.
func (s *Stage) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Gateway: s.settings, GatewayAddr: s.fwd.Addr(), Rate: s.load.Rate(), MaxRate: MaxRate,
		Modes: fanout.Modes, Backends: map[string]Backend{}, Services: model.Services,
		Limits: s.lim, Scenes: Scenes(), Scene: s.scene,
		Tick: s.o.Tick.Seconds(), Window: s.o.Window.Seconds(),
		Frames: append([]Frame(nil), s.frames...), Markers: append([]Marker(nil), s.markers...),
	}
	for _, svc := range model.Services {
		st.Backends[svc] = backendOf(s.models[svc])
	}
	return st
}

// mustJSON encodes v, which is the stage's own data and always encodes.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}
