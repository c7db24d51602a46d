package harness

import (
	"context"
	"sync"
	"time"

	"fanout/bench/launch"
	"fanout/bench/result"
)

// SampleEvery is how often the gateway's memory and goroutines are sampled
// during a measured attack.
const SampleEvery = 500 * time.Millisecond

// sampler records the gateway's resident memory and goroutine count over a
// run, so a long run can show that both stay flat.
type sampler struct {
	proc    *launch.Proc
	metrics string // the gateway's /metrics URL
	start   time.Time

	mu      sync.Mutex
	samples []result.Sample
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newSampler(p *launch.Proc, addr string) *sampler {
	return &sampler{proc: p, metrics: "http://" + addr + "/metrics", stop: make(chan struct{})}
}

// sample takes one sample now.
func (s *sampler) sample(ctx context.Context) {
	rss, err := s.proc.RSS()
	if err != nil {
		return
	}
	g, conns := goroutines(ctx, s.metrics)
	smp := result.Sample{Offset: time.Since(s.start), RSS: rss, Goroutines: g, Connections: conns}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

// begin takes the "before" sample and samples periodically until end.
func (s *sampler) begin(ctx context.Context) {
	s.start = time.Now()
	s.sample(ctx)
	s.wg.Go(func() {
		t := time.NewTicker(SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.sample(ctx)
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	})
}

// end stops sampling, takes the "after" sample and returns them all.
func (s *sampler) end(ctx context.Context) []result.Sample {
	close(s.stop)
	s.wg.Wait()
	s.sample(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// goroutines reads go_goroutines and fanout_client_connections from the
// gateway's Prometheus metrics; -1 for one it cannot read.
func goroutines(ctx context.Context, url string) (goroutines, connections int) {
	series, err := launch.ReadMetrics(ctx, url, func(name string) bool { return name == "go_goroutines" || name == "fanout_client_connections" })
	if err != nil {
		return -1, -1
	}
	read := func(name string) int {
		if v, ok := series[name]; ok {
			return int(v)
		}
		return -1
	}
	return read("go_goroutines"), read("fanout_client_connections")
}
