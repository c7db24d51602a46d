// Package load offers a workload to a server with vegeta's library, in the
// open model: requests leave at the offered rate whatever the server does
// (constant, or changed at set offsets by a Pacer of steps), and vegeta adds
// workers as needed (no cap), so a slow server cannot slow the client down
// and hide its own latency (no coordinated omission).
//
// Run returns a Report: the latency distribution, throughput, success, status
// codes and error kinds, per phase if asked, and one Server-Timing header near
// the median for a waterfall. Every result can also be written in vegeta's
// own encoding, which `vegeta report` and `vegeta plot` read.
package load

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"fanout/bench/dist"
	"fanout/bench/servertiming"
)

// Attack describes one run: at a constant rate, or at a rate that events
// change at the offsets of its phases (PhaseRates).
type Attack struct {
	// Name labels the attack in vegeta's results ("concurrent-500").
	Name string
	// BaseURL is the server's root, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Targets are picked by weight for each request; ids are drawn uniformly,
	// or by a Zipf law for a target with a skew (Target.Zipf).
	Targets []Target
	// Rate in requests per second (from the start, until a phase changes
	// it), and Duration of the run.
	Rate     float64
	Duration time.Duration
	// Timeout of one request (0: DefaultTimeout).
	Timeout time.Duration
	// Seed makes the choice of targets and ids reproducible.
	Seed uint64
	// Phases, if set, are the offsets (ascending, the first > 0) at which
	// new phases start, named by PhaseNames (one more name than offsets:
	// the first names the phase from 0). The report then also has figures
	// per phase, by request start time.
	Phases     []time.Duration
	PhaseNames []string
	// PhaseRates, if set, has one rate per offset of Phases: the offered
	// rate from that offset on, in requests per second, or 0 to keep the
	// rate of the phase before. The requests follow a Pacer over these
	// steps, and each phase's figures are over its own rate and window.
	PhaseRates []float64
	// At, if set, is called once at each offset of Phases, while the
	// attack runs (the harness changes backends there).
	At func(phase int)
	// Out, if not nil, receives every result in vegeta's binary encoding.
	Out io.Writer
	// Bodies reads every response body and keeps a hash of each URL's
	// complete 2xx body (no PartialHeader) in Report.Bodies (bodies are
	// not written to Out).
	Bodies bool
	// Authorization, if set, is sent as the Authorization header of every
	// request (launch.Authorization for the gateways the bench starts).
	Authorization string
	// LocalAddr, if set, is the IP address the requests are sent from (a
	// client of an address of its own; see Trickle.LocalAddr).
	LocalAddr string
	// CPUs is how many CPUs the generator may use, which
	// Report.GeneratorCPUShare is a share of (0: runtime.NumCPU()). The
	// harness pins the generator to the load side's CPUs (launch.Split).
	CPUs int
	// Generators, above 1, splits the attack across that many generator
	// processes, each offering its share of the rate (Share), which Spawn
	// runs; their results are merged into one Report (Merge), and
	// written to Out in one file. Events (At) fire here, at the offsets
	// of Phases from the start of the shards.
	Generators int
	Spawn      Spawn
	// AcceptEncoding is the Accept-Encoding header of every request
	// ("": identity, bodies as they are).
	AcceptEncoding string
}

// Latency is a measured latency distribution: the figures a limit has
// too, and the slowest request, which only a measurement has.
type Latency struct {
	dist.Dist
	Max time.Duration `json:"max"`
}

// Stat returns a statistic by name: p50, p90, p99, p999, max or mean.
func (l Latency) Stat(name string) (time.Duration, bool) {
	if name == "max" {
		return l.Max, true
	}
	return l.Dist.Stat(name)
}

// PartialHeader is the response header with which the gateway marks a 2xx
// page that lacks some of its parts (an optional call failed or timed out);
// its value names the missing parts ("layer, settings").
const PartialHeader = "Fanout-Partial"

// GeneratorLimit is the share of the offered rate a load generator must
// achieve: below it the step measured the generator (or the machine it
// shares with the gateway), not the server.
const GeneratorLimit = 0.97

// SaturatedShare is the share of its CPUs at which the load side (the
// generator and the mock backends together) is saturated: a step that
// used that much measured the load side at least as much as the server.
// It is under 1 because a saturated side still idles for moments between
// bursts, and the CPU time it is given is read in 10 ms ticks.
const SaturatedShare = 0.9

// MinSamples is the fewest requests a p99 is worth reporting on: with fewer,
// the 99th percentile rests on fewer than ten requests beyond it.
const MinSamples = 1000

// Summary holds the figures of a set of requests.
type Summary struct {
	Requests int `json:"requests"`
	// Offered is the rate the pacer offered over the window, in requests
	// per second: the attack's rate, or, where an event changed it, the
	// phase's own rate (over a whole run, their mean). 0 where no rate
	// applies (the figures of one target, which gets a share).
	Offered float64 `json:"offered_rate,omitempty"`
	// Rate is the achieved rate of sending over the window the requests
	// were offered in: requests divided by the window. An open-model
	// generator that keeps up achieves the offered rate; one short of CPU
	// sends fewer (see Limited).
	Rate float64 `json:"achieved_rate"`
	// Throughput is what the server delivered: the complete answers that
	// arrived within a window as long as the one the requests were offered
	// in, shifted by the median latency of complete answers, per second
	// of it. The shift lets a server that keeps up deliver exactly what
	// it was sent; one that queues delivers at its own pace, not at the
	// pace it was offered work. Only answers to requests of the window
	// count, so Throughput never exceeds Rate.
	Throughput float64 `json:"throughput"`
	// Success is the fraction answered 2xx or 3xx (complete or partial).
	// Complete, Partial and Failed split every request three ways:
	// 2xx/3xx without PartialHeader, 2xx/3xx with it, and the rest
	// (another status or no response); they add up to 1.
	Success  float64 `json:"success"`
	Complete float64 `json:"complete"`
	Partial  float64 `json:"partial"`
	Failed   float64 `json:"failed"`
	// Window is the time the requests were offered in; Span runs from the
	// first request's start to the last response.
	Window  time.Duration `json:"window"`
	Span    time.Duration `json:"span"`
	Latency Latency       `json:"latency"`
	// OKLatency is the distribution of the answered 2xx/3xx (the served
	// requests), FailedLatency that of the other answers (a shed request,
	// a refusal by an open breaker, a 502): a gateway that refuses fast
	// and serves well shows both, which the whole distribution mixes up.
	// Requests without an answer are in neither.
	OKLatency     Latency `json:"ok_latency"`
	FailedLatency Latency `json:"failed_latency"`
	// RefusedLatency is that of the 503 answers alone, among the failed:
	// the requests a gateway refused before doing their work (shed by the
	// overload limit, refused by an open breaker, no free connection),
	// apart from the requests that tried and failed, such as a breaker's
	// probe through a dead backend.
	RefusedLatency Latency `json:"refused_latency"`
	// Codes counts responses by status ("200", "504"; "0" for no
	// response). Errors counts failures by kind: "timeout", "refused",
	// "reset", "eof", "other" for no response, and "http_NNN" for statuses
	// outside 2xx/3xx.
	Codes  map[string]int `json:"codes"`
	Errors map[string]int `json:"errors,omitempty"`
}

// Limited reports whether the generator fell short of offered: it achieved
// less than GeneratorLimit of it. Pass Offered: a run whose rate changes
// offers their mean, not its first rate.
func (s Summary) Limited(offered float64) bool {
	return offered > 0 && s.Rate < GeneratorLimit*offered
}

// EnoughSamples reports whether there are enough requests (MinSamples) for
// the p99 to mean something.
func (s Summary) EnoughSamples() bool { return s.Requests >= MinSamples }

// FormatCounts formats counts by key as "200:1000 504:3": keys that are
// numbers (status codes) in numeric order, the others (error kinds) in
// alphabetical order after them; "" for none.
func FormatCounts(m map[string]int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		switch {
		case errA == nil && errB == nil:
			return cmp.Compare(x, y)
		case errA == nil:
			return -1
		case errB == nil:
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+":"+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, " ")
}

// CodeFraction returns the fraction of requests answered with status code
// (0 for no response).
func (s Summary) CodeFraction(code int) float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Codes[strconv.Itoa(code)]) / float64(s.Requests)
}

// Report is the outcome of one Run.
type Report struct {
	Summary
	// Phases has one summary per phase, if the attack had phases.
	Phases map[string]Summary `json:"phases,omitempty"`
	// Timing is the Server-Timing of a successful request whose latency
	// was close to the median, for a waterfall; its target's name is
	// TimingTarget.
	Timing       *servertiming.Timing `json:"timing,omitempty"`
	TimingTarget string               `json:"timing_target,omitempty"`
	// Targets has one summary per target name, if the attack had several
	// targets (a single call and a wide fan-out differ in their tails).
	Targets map[string]Summary `json:"targets,omitempty"`
	// Timeline has the figures of consecutive slices of the run, by
	// request start, to show a degradation and a recovery over time.
	Timeline []Bucket `json:"timeline,omitempty"`
	// LatencySlope is the least-squares slope of latency against request
	// start over the run (seconds of latency per second of run): about 0
	// when the server keeps up, positive when a queue builds.
	LatencySlope float64 `json:"latency_slope"`
	// GeneratorCPU is the user+sys CPU time the generating process spent
	// from the start of the attack to its last response;
	// GeneratorCPUShare divides it by that wall time and the CPUs the
	// generator may use (Attack.CPUs; 1: the generator alone used every
	// one of them).
	GeneratorCPU      time.Duration `json:"generator_cpu"`
	GeneratorCPUShare float64       `json:"generator_cpu_share"`
	// GeneratorWait is the time the generators' threads waited, runnable,
	// for a CPU during the attack, where it was measured: by the harness
	// for its own process, by each shard for its own (Shard.Wait).
	GeneratorWait time.Duration `json:"generator_cpu_wait,omitempty"`
	// Generators is how many generators sent the requests (0 or 1: one);
	// with several, GeneratorCPU is their sum and GeneratorCPUShare that
	// of the busiest (see Merge).
	Generators int `json:"generators,omitempty"`
	// Start is when the attack started: the offsets of its phases count
	// from it.
	Start time.Time `json:"-"`
	// Bodies is, with Attack.Bodies, the FNV-1a hash of each URL's
	// complete 2xx body, by the URL's path and query (the server's address left out);
	// BodiesDiffering counts the URLs answered with two different bodies
	// within the attack (their hash is the first one's).
	Bodies          map[string]uint64 `json:"-"`
	BodiesDiffering int               `json:"bodies_differing,omitempty"`
}

// Bucket is the figures of the requests started in one slice of a run.
type Bucket struct {
	Offset   time.Duration `json:"offset"` // start of the slice from the run's start
	Requests int           `json:"requests"`
	Success  float64       `json:"success"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
}

// timelineBuckets is about how many slices a timeline has.
const timelineBuckets = 40

// keptHeaders are the response headers written to the encoded results:
// enough for waterfalls, small enough to keep result files lean.
var keptHeaders = []string{"Server-Timing", "Content-Type", PartialHeader}

// record is what Run keeps of each result in memory.
type record struct {
	offset  time.Duration // start, from the attack's start
	latency time.Duration
	code    uint16
	errKind string
	partial bool   // a success marked with PartialHeader
	timing  string // Server-Timing, for a sample only
	target  string
}

// Run carries out the attack and returns its report. A failed request is
// data, not an error; Run fails only if the attack cannot be set up or ctx
// ends (then the partial figures are returned with ctx's error).
func Run(ctx context.Context, a Attack) (*Report, error) {
	if a.Rate <= 0 || a.Duration <= 0 {
		return nil, fmt.Errorf("attack %s: rate and duration must be positive", a.Name)
	}
	if len(a.Targets) == 0 {
		return nil, fmt.Errorf("attack %s: no targets", a.Name)
	}
	if len(a.Phases) > 0 && len(a.PhaseNames) != len(a.Phases)+1 {
		return nil, fmt.Errorf("attack %s: %d phase offsets need %d names, have %d", a.Name, len(a.Phases), len(a.Phases)+1, len(a.PhaseNames))
	}
	pacer, err := a.pacer()
	if err != nil {
		return nil, err
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	tr, names := newTargeter(a)
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(timeout),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
		// The body is not needed for the figures; reading none keeps
		// memory flat at high rates (vegeta still drains it).
		vegeta.MaxBody(maxBody(a.Bodies)),
	}
	if a.LocalAddr != "" {
		ip := net.ParseIP(a.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("attack %s: local address %q is not an IP address", a.Name, a.LocalAddr)
		}
		opts = append(opts, vegeta.LocalAddr(net.IPAddr{IP: ip}))
	}
	if a.Generators > 1 && a.Spawn != nil {
		return runShards(ctx, a)
	}
	atk := vegeta.NewAttacker(opts...)
	c := newCollector(a, names.name)
	cpu0 := processCPU()
	start := time.Now()
	stopTimers := schedule(ctx, start, a.Phases, a.At)
	defer stopTimers()

	// vegeta's default MaxWorkers is unlimited: the open model.
	res := atk.Attack(tr, pacer, a.Duration, a.Name)
	// window is how long requests were offered: the attack's duration,
	// or less if ctx ended it.
	window := a.Duration
	ctxDone := ctx.Done()
	for r := range res {
		if ctxDone != nil {
			select {
			case <-ctxDone:
				atk.Stop()
				window = min(window, time.Since(start))
				ctxDone = nil // keep draining
			default:
			}
		}
		c.add(r, r.Timestamp.Sub(start))
	}
	if ctx.Err() != nil {
		// ctx may have ended between two results or after the last.
		window = min(window, time.Since(start))
	}
	wall := time.Since(start)
	cpu := processCPU() - cpu0
	rep, err := c.report(window, pacer)
	if err != nil {
		return nil, err
	}
	rep.Start = start
	if cpu0 >= 0 && cpu >= 0 && wall > 0 {
		cpus := a.CPUs
		if cpus <= 0 {
			cpus = runtime.NumCPU()
		}
		rep.GeneratorCPU = cpu
		rep.GeneratorCPUShare = float64(cpu) / float64(wall) / float64(cpus)
	}
	return rep, ctx.Err()
}

// collector gathers the results of an attack, or of its shards, into the
// records a Report is computed from, writing each to the attack's Out.
type collector struct {
	a         Attack
	name      func(url string) string // a request URL's target
	recs      []record
	bodies    map[string]uint64
	differing map[string]bool
	enc       vegeta.Encoder
	encErr    error
}

func newCollector(a Attack, name func(string) string) *collector {
	c := &collector{a: a, name: name, differing: map[string]bool{}}
	if a.Bodies {
		c.bodies = map[string]uint64{}
	}
	if a.Out != nil {
		c.enc = vegeta.NewEncoder(a.Out)
	}
	return c
}

// add records r, which started offset after its attack's start.
func (c *collector) add(r *vegeta.Result, offset time.Duration) {
	rec := record{
		offset:  offset,
		latency: r.Latency,
		code:    r.Code,
		errKind: errorKind(r),
		target:  c.name(r.URL),
	}
	if r.Code >= 200 && r.Code < 300 {
		rec.timing = r.Headers.Get("Server-Timing")
	}
	if rec.errKind == "" && r.Headers.Get(PartialHeader) != "" {
		rec.partial = true
	}
	c.recs = append(c.recs, rec)
	// Complete pages only: a partial page lacks what a late call
	// would have added, and is not the same page.
	if c.bodies != nil && r.Code >= 200 && r.Code < 300 && !rec.partial {
		h := fnv.New64a()
		h.Write(r.Body)
		// By path: each run has a gateway of its own, on its own port.
		path := strings.TrimPrefix(r.URL, strings.TrimSuffix(c.a.BaseURL, "/"))
		if prev, ok := c.bodies[path]; !ok {
			c.bodies[path] = h.Sum64()
		} else if prev != h.Sum64() {
			c.differing[path] = true
		}
	}
	r.Body = nil // hashed at most: the results file keeps no bodies
	if c.enc != nil && c.encErr == nil {
		trimHeaders(r)
		c.encErr = c.enc.Encode(r)
	}
}

// report computes the figures of the records, offered in window by pacer.
func (c *collector) report(window time.Duration, pacer *Pacer) (*Report, error) {
	a, recs := c.a, c.recs
	if c.encErr != nil {
		return nil, fmt.Errorf("attack %s: write results: %w", a.Name, c.encErr)
	}
	rep := &Report{Summary: summarise(recs, 0, window, pacer), LatencySlope: slope(recs), Bodies: c.bodies, BodiesDiffering: len(c.differing)}
	if len(a.Phases) > 0 {
		rep.Phases = map[string]Summary{}
		bounds := append([]time.Duration{-1 << 62}, a.Phases...)
		for i, name := range a.PhaseNames {
			lo := bounds[i]
			hi := time.Duration(1 << 62)
			if i+1 < len(bounds) {
				hi = bounds[i+1]
			}
			var part []record
			for _, r := range recs {
				if r.offset >= lo && r.offset < hi {
					part = append(part, r)
				}
			}
			rep.Phases[name] = summarise(part, max(lo, 0), min(hi, window), pacer)
		}
	}
	rep.Timing, rep.TimingTarget = medianTiming(recs, rep.Latency.P50)
	rep.Timeline = timeline(recs, window)
	if len(a.Targets) > 1 {
		by := map[string][]record{}
		for _, r := range recs {
			by[r.target] = append(by[r.target], r)
		}
		rep.Targets = map[string]Summary{}
		for name, part := range by {
			// A target gets a share of the requests, not a rate of
			// its own: no pacer.
			rep.Targets[name] = summarise(part, 0, window, nil)
		}
	}
	return rep, nil
}

// pacer returns the attack's schedule: Rate from the start, changed at each
// offset of Phases that PhaseRates gives a rate.
func (a Attack) pacer() (*Pacer, error) {
	if len(a.PhaseRates) > 0 && len(a.PhaseRates) != len(a.Phases) {
		return nil, fmt.Errorf("attack %s: %d phase offsets need %d rates, have %d", a.Name, len(a.Phases), len(a.Phases), len(a.PhaseRates))
	}
	steps := []Step{{From: 0, Rate: a.Rate}}
	for i, r := range a.PhaseRates {
		switch {
		case r < 0:
			return nil, fmt.Errorf("attack %s: phase %s has rate %v, want a positive rate or 0 to keep the one before", a.Name, a.PhaseNames[i+1], r)
		case r > 0 && r != steps[len(steps)-1].Rate:
			steps = append(steps, Step{From: a.Phases[i], Rate: r})
		}
	}
	p, err := NewPacer(steps)
	if err != nil {
		return nil, fmt.Errorf("attack %s: %w", a.Name, err)
	}
	return p, nil
}

// maxBody is vegeta's MaxBody: everything when bodies are compared, else
// nothing.
func maxBody(bodies bool) int64 {
	if bodies {
		return -1
	}
	return 0
}

// schedule calls at(i) at start+offsets[i] until ctx ends; the returned func
// stops what has not fired and waits for a call in progress.
func schedule(ctx context.Context, start time.Time, offsets []time.Duration, at func(int)) func() {
	if at == nil || len(offsets) == 0 {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, off := range offsets {
			t := time.NewTimer(time.Until(start.Add(off)))
			select {
			case <-t.C:
				at(i)
			case <-stop:
				t.Stop()
				return
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

func trimHeaders(r *vegeta.Result) {
	if r.Headers == nil {
		return
	}
	h := make(http.Header, len(keptHeaders))
	for _, k := range keptHeaders {
		if v := r.Headers.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	r.Headers = h
}

// errorKind classifies a failed result; "" means success.
func errorKind(r *vegeta.Result) string {
	if r.Code >= 200 && r.Code < 400 {
		return ""
	}
	if r.Code != 0 {
		return "http_" + strconv.Itoa(int(r.Code))
	}
	e := strings.ToLower(r.Error)
	switch {
	case strings.Contains(e, "timeout") || strings.Contains(e, "deadline exceeded"):
		return "timeout"
	case strings.Contains(e, "connection refused"):
		return "refused"
	case strings.Contains(e, "connection reset") || strings.Contains(e, "broken pipe"):
		return "reset"
	case strings.Contains(e, "eof"):
		return "eof"
	}
	return "other"
}

// summarise computes the figures of recs, whose requests were offered in the
// window [from, to) of the attack (offsets from its start) by pacer p: the
// rates are per second of it (see Summary.Throughput for the window of
// arrivals). With p nil (a target's share, a slice of a timeline) there is
// no offered rate, and the requests' spacing is their mean.
func summarise(recs []record, from, to time.Duration, p *Pacer) Summary {
	window := to - from
	s := Summary{Requests: len(recs), Codes: map[string]int{}, Window: window}
	if p != nil {
		s.Offered = p.Offered(from, to)
	}
	if len(recs) == 0 {
		return s
	}
	lat := make([]time.Duration, len(recs))
	var first, end time.Duration = recs[0].offset, 0
	ok, partial := 0, 0
	var complete []time.Duration // latencies of the complete answers
	var served, failed, refused []time.Duration
	for i, r := range recs {
		lat[i] = r.latency
		first = min(first, r.offset)
		end = max(end, r.offset+r.latency)
		s.Codes[strconv.Itoa(int(r.code))]++
		switch {
		case r.code >= 200 && r.code < 400:
			served = append(served, r.latency)
		case r.code != 0:
			failed = append(failed, r.latency)
			if r.code == 503 {
				refused = append(refused, r.latency)
			}
		}
		switch {
		case r.errKind != "":
			if s.Errors == nil {
				s.Errors = map[string]int{}
			}
			s.Errors[r.errKind]++
		case r.partial:
			ok++
			partial++
		default:
			ok++
			complete = append(complete, r.latency)
		}
	}
	s.Latency = distribution(lat)
	s.OKLatency = distribution(served)
	s.FailedLatency = distribution(failed)
	s.RefusedLatency = distribution(refused)
	n := float64(len(recs))
	s.Success = float64(ok) / n
	s.Partial = float64(partial) / n
	s.Complete = float64(ok-partial) / n
	s.Failed = float64(len(recs)-ok) / n
	if window > 0 {
		s.Rate = n / window.Seconds()
		s.Throughput = float64(arrivals(recs, complete, from, to, p)) / window.Seconds()
	}
	s.Span = end - first
	return s
}

// distribution sorts lat and returns its figures; zero for none.
func distribution(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	return Latency{Dist: dist.Of(lat), Max: lat[len(lat)-1]}
}

// arrivals counts the complete answers of recs that arrived within [from,
// to) shifted by the median of complete, their latencies, and by half a
// request's spacing: the pacer sends at the end of each spacing (the first
// request one spacing after the start, the last at the end), so a window
// edge on that grid would count the first or the last answer or not by a
// hair of jitter; half a spacing puts the edges between grid points. The
// spacing at each edge is pacer p's there (a run whose rate drops has a
// wider one at its end than at its start), or the mean with p nil.
func arrivals(recs []record, complete []time.Duration, from, to time.Duration, p *Pacer) int {
	if len(complete) == 0 {
		return 0
	}
	slices.Sort(complete)
	median := dist.Quantile(complete, 0.5)
	lo := median + (to-from)/time.Duration(2*len(recs))
	hi := lo
	if p != nil {
		// The spacing of the request just after from, and of the one
		// just before to.
		lo = median + halfSpacing(p.Rate(from))
		hi = median + halfSpacing(p.Rate(max(to-1, from)))
	}
	n := 0
	for _, r := range recs {
		if end := r.offset + r.latency; r.errKind == "" && !r.partial && end >= from+lo && end < to+hi {
			n++
		}
	}
	return n
}

// halfSpacing is half the time between two requests at rate.
func halfSpacing(rate float64) time.Duration {
	return time.Duration(float64(time.Second) / (2 * rate))
}

// slope fits latency = a + b*start by least squares and returns b, in
// seconds of latency per second of run (0 with fewer than two distinct
// starts).
func slope(recs []record) float64 {
	if len(recs) < 2 {
		return 0
	}
	var mx, my float64
	for _, r := range recs {
		mx += r.offset.Seconds()
		my += r.latency.Seconds()
	}
	n := float64(len(recs))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for _, r := range recs {
		dx := r.offset.Seconds() - mx
		sxy += dx * (r.latency.Seconds() - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// medianTiming picks, among successful requests with a Server-Timing
// header, the one whose latency is closest to p50.
func medianTiming(recs []record, p50 time.Duration) (*servertiming.Timing, string) {
	best := -1
	var bestDiff time.Duration
	for i, r := range recs {
		if r.timing == "" {
			continue
		}
		d := r.latency - p50
		if d < 0 {
			d = -d
		}
		if best < 0 || d < bestDiff {
			best, bestDiff = i, d
		}
	}
	if best < 0 {
		return nil, ""
	}
	t, err := servertiming.Parse(recs[best].timing)
	if err != nil || len(t.Calls) == 0 {
		return nil, ""
	}
	return &t, recs[best].target
}

// targetNames maps a request URL back to its target's name.
type targetNames struct {
	mu    sync.Mutex
	names map[string]string
}

func (n *targetNames) name(url string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[url]
}

// newTargeter returns a vegeta Targeter that picks targets by weight and ids
// uniformly or by the target's Zipf law, from a seeded generator. vegeta calls it from many workers, so
// the generator is behind a mutex.
func newTargeter(a Attack) (vegeta.Targeter, *targetNames) {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(a.Seed, 0xfa0))
	var total float64
	for _, t := range a.Targets {
		total += t.Weight
	}
	base := strings.TrimSuffix(a.BaseURL, "/")
	names := &targetNames{names: map[string]string{}}
	acceptEncoding := cmp.Or(a.AcceptEncoding, "identity")
	// A hot-key target draws its ids from a Zipf generator of its own,
	// on the same seeded source, so that a seed replays the same ids.
	zipfs := make([]*rand.Zipf, len(a.Targets))
	for i, t := range a.Targets {
		if t.Zipf > 1 && t.IDs.Max > t.IDs.Min {
			zipfs[i] = rand.NewZipf(r, t.Zipf, 1, uint64(t.IDs.Max-t.IDs.Min))
		}
	}
	tr := func(tgt *vegeta.Target) error {
		if tgt == nil {
			return vegeta.ErrNilTarget
		}
		mu.Lock()
		i := 0
		if len(a.Targets) > 1 {
			u := r.Float64() * total
			for i = 0; i < len(a.Targets)-1; i++ {
				u -= a.Targets[i].Weight
				if u < 0 {
					break
				}
			}
		}
		t := a.Targets[i]
		id := t.IDs.Min
		switch {
		case zipfs[i] != nil:
			id += int(zipfs[i].Uint64())
		case t.IDs.Max > t.IDs.Min:
			id += r.IntN(t.IDs.Max - t.IDs.Min + 1)
		}
		mu.Unlock()
		// Bodies as they are: Go's transport would ask for gzip on its own,
		// and the gateway would compress every page over 1 KB for vegeta to
		// decompress, CPU on both sides that the bench does not measure.
		*tgt = vegeta.Target{Method: t.Method, URL: base + t.Expand(id), Header: http.Header{"Accept-Encoding": {acceptEncoding}}}
		if t.Body != "" {
			tgt.Body = []byte(t.Body)
			tgt.Header.Set("Content-Type", "application/json")
		}
		if a.Authorization != "" {
			tgt.Header.Set("Authorization", a.Authorization)
		}
		names.mu.Lock()
		if len(names.names) < 100000 {
			names.names[tgt.URL] = t.Name
		}
		names.mu.Unlock()
		return nil
	}
	return tr, names
}

// timeline slices recs by start time into about timelineBuckets buckets of
// at least 100ms.
func timeline(recs []record, d time.Duration) []Bucket {
	width := max(100*time.Millisecond, (d / timelineBuckets).Round(10*time.Millisecond))
	n := int((d + width - 1) / width)
	parts := make([][]record, n)
	for _, r := range recs {
		i := int(r.offset / width)
		if i < 0 || i >= n {
			continue
		}
		parts[i] = append(parts[i], r)
	}
	out := make([]Bucket, 0, n)
	for i, p := range parts {
		b := Bucket{Offset: time.Duration(i) * width, Requests: len(p)}
		if len(p) > 0 {
			s := summarise(p, b.Offset, b.Offset+width, nil)
			b.Success, b.P50, b.P99 = s.Success, s.Latency.P50, s.Latency.P99
		}
		out = append(out, b)
	}
	return out
}
