package harness

import (
	"fmt"
	"io"
	"sync"
	"time"

	"fanout/bench/limits"
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
		p.left += s.Estimate()
	}
	return p
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
	p.current = s.Estimate()
	p.curStart = time.Now()
	p.mu.Unlock()
	p.line(fmt.Sprintf("== %s (%d/%d): %s", s.Name, p.index, p.total, s.Description))
}

func (p *progress) done(s *scenario.Scenario) {
	p.mu.Lock()
	p.left -= s.Estimate()
	p.mu.Unlock()
}

func (p *progress) remaining() time.Duration {
	spent := time.Since(p.curStart)
	rest := p.left - min(spent, p.current)
	return max(rest, 0)
}

func (p *progress) run(label string, rate float64, d time.Duration) {
	p.line(fmt.Sprintf("%s  %-12s %6s req/s  %s  elapsed %s  remaining ~%s",
		p.name, label, scenario.FormatRate(rate), d.Round(100*time.Millisecond),
		clock(time.Since(p.start)), clock(p.remaining())))
}

func (p *progress) figures(r result.Run, l *limits.Limits) {
	cp := ""
	if l != nil && l.CriticalPath.P50 > 0 {
		cp = fmt.Sprintf("  p50/critical %.2f", float64(r.Latency.P50)/float64(l.CriticalPath.P50))
	}
	p.line(fmt.Sprintf("    p50 %s  p99 %s  max %s  ok %.2f%%  %.0f req/s  cpu %s/req%s",
		ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max), 100*r.Success, r.Throughput,
		ms(r.CPUPerRequest), cp))
}

func (p *progress) verdict(res *result.Scenario) {
	for _, e := range res.Expectations {
		mark := "ok  "
		if !e.Pass {
			mark = "FAIL"
		}
		p.line(fmt.Sprintf("  %s %s   %s", mark, e.Source, e.Detail))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", result.Millis(d)) }

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
