package harness

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"fanout/bench/capacity"
	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// progress prints one line per step: scenario, mode, rate, elapsed and an
// estimate of what remains.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	left     time.Duration // estimated time of the scenarios not yet finished
	current  time.Duration // estimate of the current scenario
	curStart time.Time
	name     string
	index    int
	total    int
}

func newProgress(w io.Writer, ss []*scenario.Scenario) *progress {
	p := &progress{w: w, start: time.Now(), total: len(ss)}
	for _, s := range ss {
		p.left += estimate(s)
	}
	return p
}

// estimate is how long a scenario should take: its own estimate, and the
// block that measures the CPU floor beside the gateway in every scenario
// but a cost one.
func estimate(s *scenario.Scenario) time.Duration {
	if s.Cost != nil {
		return s.Estimate()
	}
	return s.Estimate() + floorBlock().Estimate()
}

func (p *progress) line(s string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
}

func (p *progress) begin(s *scenario.Scenario) {
	p.mu.Lock()
	p.index++
	p.name = s.Name
	p.current = estimate(s)
	p.curStart = time.Now()
	p.mu.Unlock()
	p.line(fmt.Sprintf("== %s (%d/%d): %s", s.Name, p.index, p.total, s.Description))
}

func (p *progress) done(s *scenario.Scenario) {
	p.mu.Lock()
	p.left -= estimate(s)
	p.mu.Unlock()
}

func (p *progress) remaining() time.Duration {
	spent := time.Since(p.curStart)
	rest := p.left - min(spent, p.current)
	return max(rest, 0)
}

// run announces a step: its warm-up and its measured attack apart, as only
// the latter is measured.
func (p *progress) run(label string, rate float64, warmup, d time.Duration) {
	p.line(fmt.Sprintf("%s  %-12s %6s req/s  warm-up %s + measure %s  elapsed %s  remaining ~%s",
		p.name, label, load.FormatRate(rate), warmup.Round(100*time.Millisecond), d.Round(100*time.Millisecond),
		clock(time.Since(p.start)), clock(p.remaining())))
}

func (p *progress) figures(r result.Run, l *dist.Limits) {
	p.line(figuresLine(r, l))
	if r.Hostile != nil {
		p.line(hostileLine(*r.Hostile))
	}
}

// hostileLine says what a run's hostile tenant did and met: the answers
// to its uploads and to its requests, by status ("0" is no answer).
func hostileLine(h result.Hostile) string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "    hostile tenant from %s:", h.From)
	if u := h.Uploads; u != nil {
		fmt.Fprintf(b, "  %d slow uploads (%d body bytes), answers %s", u.Uploads, u.BodyBytes, load.FormatCounts(u.Codes))
	}
	if q := h.Requests; q != nil {
		fmt.Fprintf(b, "  %d requests, answers %s", q.Requests, load.FormatCounts(q.Codes))
	}
	return b.String()
}

// figuresLine is the progress line of a finished step.
func figuresLine(r result.Run, l *dist.Limits) string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "    p50 %s  p99 %s  max %s  success %.2f%% (complete %.2f%%, partial %.2f%%, failed %.2f%%)  %.0f/%s req/s sent  %.0f complete/s  cpu %s/req  load cpu %.0f%%",
		ms(r.Latency.P50), p99(r.Summary), ms(r.Latency.Max), 100*r.Success, 100*r.Complete, 100*r.Partial, 100*r.Failed,
		r.Summary.Rate, offered(r), r.Throughput, ms(r.CPUPerRequest), 100*r.GeneratorCPUShare)
	if l != nil {
		b.WriteString(limitRatio(r, "critical", l.CriticalPath.P50, l))
		if r.Mode == "staged" {
			b.WriteString(limitRatio(r, "levels", l.Levels.P50, l))
		}
	}
	if r.GeneratorLimited {
		fmt.Fprintf(b, "  GENERATOR-LIMITED (sent %.0f%% of the offered rate)", 100*r.Summary.Rate/r.OfferedRate())
	}
	if r.LoadSaturated {
		fmt.Fprintf(b, "  LOAD SATURATED (generator %.0f%%, mocks %.0f%%, waiting %.0f%% of the load side's CPUs)", 100*r.GeneratorCPUShare, 100*r.MocksCPUShare, 100*r.LoadWaitShare)
	}
	return b.String()
}

// offered formats the rate a run offered: its rate as the scenario gives
// it ("400"), or, for a run whose rate an event changes, the mean to a
// tenth ("152.2", not 152.173913).
func offered(r result.Run) string {
	return load.FormatRate(math.Round(r.OfferedRate()*10) / 10)
}

// p99 formats a p99, or says it rests on too few requests.
func p99(s load.Summary) string {
	if !s.EnoughSamples() {
		return fmt.Sprintf("n/a (not enough data: %d < %d requests)", s.Requests, load.MinSamples)
	}
	return ms(s.Latency.P99)
}

// limitRatio formats the run's p50 over a limit's p50, and, below 1, why
// the run beat what no gateway can beat (result.Run.BelowLimit).
func limitRatio(r result.Run, name string, limit time.Duration, l *dist.Limits) string {
	if limit <= 0 {
		return ""
	}
	x := float64(r.Latency.P50) / float64(limit)
	s := fmt.Sprintf("  p50/%s %.2f", name, x)
	if why := r.BelowLimit(x, l); why != "" {
		s += " (" + why + ")"
	}
	return s
}

// point reports one probe of a capacity search.
func (p *progress) point(pt capacity.Point) {
	kind, verdict := "probe", "pass"
	if pt.Hold {
		kind = "hold"
	}
	if !pt.Pass {
		verdict = "fail: " + pt.Why
	}
	p.line(fmt.Sprintf("    %s %s req/s for %s: %s", kind, load.FormatRate(pt.Rate), pt.Duration, verdict))
}

// capacity reports the outcome of a capacity search.
func (p *progress) capacity(c result.Capacity) {
	p.line("  " + CapacityLine(c))
}

// CapacityLine says in one line what a capacity search found: the rate that
// held and for how long, or why none did.
func CapacityLine(c result.Capacity) string {
	probes := fmt.Sprintf("after %d probes", len(c.Points))
	switch {
	case c.Capacity > 0:
		failure := "no failure up to the search's max"
		if c.Ceiling > 0 {
			failure = "first failure at " + load.FormatRate(c.Ceiling) + " req/s"
		}
		return fmt.Sprintf("%s capacity: %s req/s, held for %s (%s) %s",
			c.Variant, load.FormatRate(c.Capacity), c.HeldFor, failure, probes)
	case c.Floor > 0:
		return fmt.Sprintf("%s capacity: below %.0f req/s, not enough samples (%d requests a probe) %s",
			c.Variant, c.Floor, load.MinSamples, probes)
	case c.Searched == 0 && c.Ceiling > 0:
		return fmt.Sprintf("%s capacity: below %s req/s, where every probe failed %s",
			c.Variant, load.FormatRate(c.Ceiling), probes)
	case c.Exhausted:
		return fmt.Sprintf("%s capacity: no rate held within the budget (short probes passed up to %s req/s) %s",
			c.Variant, load.FormatRate(c.Searched), probes)
	}
	return fmt.Sprintf("%s capacity: no rate held %s", c.Variant, probes)
}

func (p *progress) verdict(res *result.Scenario) {
	for _, e := range res.Expectations {
		p.line(fmt.Sprintf("  %s %s   %s", e.Mark(), e.Source, e.Detail))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", result.Millis(d)) }

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
