package harness

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
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
	goroutines, connections = -1, -1
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (name != "go_goroutines" && name != "fanout_client_connections") {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		if name == "go_goroutines" {
			goroutines = int(n)
		} else {
			connections = int(n)
		}
	}
	return
}
