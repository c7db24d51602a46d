// Package demo is a terminal show, about a minute long, of what blocking and
// non-blocking fan-out do to a public API: it starts its own mock backends
// and gateways, plays four acts (the event loop, the waterfall of one
// results page, throughput under load, the worker pool) and draws timelines
// and bars as it goes. With an HTML file it also writes the same acts as
// one self-contained page with charts, for projecting.
//
// The bench command runs it as `bench demo [act...] [flags]`: bench's main
// parses the flags into Options and calls Run.
package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"fanout/bench/launch"
)

// Acts lists the acts in the order of the show.
var Acts = []string{"eventloop", "results", "load", "pool"}

// Defaults of the show, also the flags' defaults.
const (
	DefaultSlow      = 300 * time.Millisecond
	DefaultFast      = 100 * time.Millisecond
	DefaultStep      = 2 * time.Second
	DefaultPoolSize  = 16
	DefaultSmallPool = 4
	DefaultSLO       = 200 * time.Millisecond
	DefaultWidth     = 50
)

// DefaultLoadFactors are the load act's offered rates as multiples of the
// blocking gateway's capacity, 1 / the backend time of one request (85 ms
// with the default models, so about 12/s): half of it first, so that
// blocking is seen working before it breaks, then on past it, far enough
// for the pool of DefaultPoolSize to break too (its capacity is
// DefaultPoolSize times blocking's) while concurrent holds.
var DefaultLoadFactors = []float64{0.5, 2, 6, 12, 24}

// DefaultPoolLoads are the pool act's offered rates as fractions of the
// pool's capacity (workers / backend time per request).
var DefaultPoolLoads = []float64{0.5, 0.8, 1.1, 1.4}

// Options configure a run of the show. Start from DefaultOptions.
type Options struct {
	// Acts to play, in order; empty plays them all.
	Acts []string
	// Out receives the show. Log receives progress and, with Verbose, the
	// processes' logs; nil discards them.
	Out, Log io.Writer
	// In is read for Enter between acts when Pause is set; set Pause only
	// when In is a terminal.
	In    io.Reader
	Pause bool
	// Colour turns on ANSI colours: only for a terminal.
	Colour bool
	// HTML, if not empty, is the file the page is written to.
	HTML string
	// Width is the width of timelines and bars in cells.
	Width int
	// Slow and Fast are the backend latencies of the event loop's two requests.
	Slow, Fast time.Duration
	// Step is how long each offered rate is held in the load and pool acts.
	Step time.Duration
	// Rates are the load act's offered rates, rising. If empty, they derive
	// from the backends' latencies: LoadFactors times the blocking
	// gateway's capacity.
	Rates []int
	// LoadFactors are the load act's rates as multiples of the blocking
	// gateway's capacity (1 / backend time per request), rising; used when
	// Rates is empty.
	LoadFactors []float64
	// PoolSize is the worker pool of the load act's pool gateway.
	PoolSize int
	// SmallPool is the worker pool of the pool act, small so it saturates early.
	SmallPool int
	// PoolLoads are the pool act's rates as fractions of the pool's capacity.
	PoolLoads []float64
	// SLO is the p99 latency past which a gateway counts as broken.
	SLO time.Duration
	// Verbose copies the processes' logs to Log.
	Verbose bool
	// Bins are prebuilt binaries; an empty path builds that program.
	Bins launch.Binaries
}

// DefaultOptions returns the settings of the one-minute show, writing to out.
func DefaultOptions(out io.Writer) Options {
	return Options{
		Out:         out,
		Width:       DefaultWidth,
		Slow:        DefaultSlow,
		Fast:        DefaultFast,
		Step:        DefaultStep,
		LoadFactors: slices.Clone(DefaultLoadFactors),
		PoolSize:    DefaultPoolSize,
		SmallPool:   DefaultSmallPool,
		PoolLoads:   slices.Clone(DefaultPoolLoads),
		SLO:         DefaultSLO,
	}
}

// Quick shrinks the show for tests and CI: shorter requests, lower rates,
// brief steps, small pools. The claims (orderings) still hold.
func (o *Options) Quick() {
	o.Slow, o.Fast = 200*time.Millisecond, 60*time.Millisecond
	o.Step = 400 * time.Millisecond
	// Blocking works at half its capacity, breaks at 1.5 times it, and a
	// pool of 2 (twice blocking's capacity) breaks at 4 times it.
	o.LoadFactors = []float64{0.5, 1.5, 4}
	o.PoolSize = 2
	o.SmallPool = 2
	o.PoolLoads = []float64{0.5, 1.5}
}

// Validate reports the first setting of o that the show cannot play, in
// the words of its flag (-slow, -rates, ...).
func (o *Options) Validate() error {
	for _, a := range o.Acts {
		if !slices.Contains(Acts, a) {
			return fmt.Errorf("unknown act %q (acts: %s)", a, strings.Join(Acts, ", "))
		}
	}
	switch {
	case o.Slow <= 0 || o.Fast <= 0:
		return errors.New("-slow and -fast must be positive")
	case o.Slow <= o.Fast:
		return fmt.Errorf("-slow (%v) must be longer than -fast (%v)", o.Slow, o.Fast)
	case o.Step <= 0:
		return errors.New("-step must be positive")
	case len(o.Rates) == 0 && len(o.LoadFactors) == 0:
		return errors.New("-rates needs at least one rate")
	case o.PoolSize < 1 || o.SmallPool < 1:
		return errors.New("pool sizes must be at least 1")
	case o.SLO <= 0:
		return errors.New("-slo must be positive")
	case len(o.PoolLoads) == 0:
		return errors.New("-pool-loads needs at least one load")
	}
	for i, r := range o.Rates {
		if r <= 0 || (i > 0 && r <= o.Rates[i-1]) {
			return fmt.Errorf("-rates must be positive and rising, got %v", o.Rates)
		}
	}
	for i, f := range o.LoadFactors {
		if f <= 0 || (i > 0 && f <= o.LoadFactors[i-1]) {
			return fmt.Errorf("load factors must be positive and rising, got %v", o.LoadFactors)
		}
	}
	for _, f := range o.PoolLoads {
		if f <= 0 {
			return fmt.Errorf("-pool-loads must be positive, got %v", o.PoolLoads)
		}
	}
	return nil
}

// Run plays the acts of o. It stops early, with an error, when ctx ends or an
// act cannot run; the HTML page, if asked for, holds the acts played so far.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	rep = &Report{}
	if err := o.Validate(); err != nil {
		return rep, err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	acts := o.Acts
	if len(acts) == 0 {
		acts = Acts
	}
	s := &show{out: o.Out, pal: palette{on: o.Colour}, width: max(o.Width, 20)}
	if o.Pause && o.In != nil {
		s.in = bufio.NewReader(o.In)
	}
	if o.HTML != "" {
		s.page = &page{
			title: "Fanout: blocking vs non-blocking fan-out",
			footer: fmt.Sprintf("Played by bench demo on %s, %s/%s, %d CPUs, %s.",
				time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		}
		defer func() {
			if werr := writePage(o.HTML, s.page); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	fmt.Fprintln(o.Log, "demo: building the gateway and the mock backends")
	bins, err := o.Bins.Build(ctx)
	if err != nil {
		return rep, err
	}
	var logs io.Writer
	if o.Verbose {
		logs = o.Log
	}
	r := &player{o: o, s: s, bins: bins, logs: logs, report: rep}
	for _, a := range acts {
		var err error
		switch a {
		case "eventloop":
			err = r.eventLoop(ctx)
		case "results":
			err = r.results(ctx)
		case "load":
			err = r.load(ctx)
		case "pool":
			err = r.pool(ctx)
		}
		if err != nil {
			return rep, fmt.Errorf("act %s: %w", a, err)
		}
	}
	return rep, nil
}

// player plays acts; each act starts and stops its own processes.
type player struct {
	o      Options
	s      *show
	bins   launch.Binaries
	logs   io.Writer
	report *Report
}

func writePage(name string, p *page) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("write page: %w", err)
	}
	if _, err := p.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write page %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write page %s: %w", name, err)
	}
	return nil
}

// joinFloats writes v as the flags take it: "0.5,2,6".
func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// Report is what a run measured, act by act, for callers that check the
// show's claims (tests) or print it their own way. Acts not played leave
// their fields empty.
type Report struct {
	EventLoop     []EventLoopRun
	Results       []ResultsRun
	ResultsLimits Limits
	Load          []LoadRun
	Pool          *PoolRun
}
