package mock

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"fanout/mockbackends/model"
)

// delivered sends n GET requests to path over conc connections and returns
// each one's latency as the client saw it.
func delivered(t testing.TB, addr, path string, n, conc int) []time.Duration {
	t.Helper()
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: conc, ReadTimeout: 10 * time.Second}
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + path)
			for i := range next {
				start := time.Now()
				err := hc.Do(req, resp)
				out[i] = time.Since(start)
				if err == nil && resp.StatusCode() != 200 {
					err = fasthttp.ErrBodyTooLarge // any non-nil error; reported below
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("GET %s: %v", path, firstErr)
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(math.Round(q*float64(len(sorted)-1)))]
}

// TestDeliveredLatency checks that what a client sees matches the model:
// for each model, 2000 requests (concurrently, so the test stays short),
// p50 and p99 against the model's own quantiles. The slack covers the
// loopback round trip, wake-up latency and the sampling noise of a p99 from
// 2000 draws on a shared 2-core machine; a mock that ignored, halved or
// doubled a model would still fail. A model gets three attempts, since a
// burst of load elsewhere on the machine can spoil one.
func TestDeliveredLatency(t *testing.T) {
	checkDelivered(t, []string{
		"fixed:5ms",
		"uniform:min=2ms,max=8ms",
		"normal:mean=5ms,stddev=1500us",
		"lognormal:p50=4ms,p99=12ms",
		"fixed:3ms,spike=0.05@6ms",
	}, 2000, concurrency())
}

// TestDeliveredLatencyReport measures the delivered-latency error of the
// models a benchmark uses, at their real sizes. It takes about a minute, so
// it runs only with FANOUT_LATENCY_REPORT=1:
//
//	FANOUT_LATENCY_REPORT=1 go test -run DeliveredLatencyReport -v ./mockbackends/mock
func TestDeliveredLatencyReport(t *testing.T) {
	if os.Getenv("FANOUT_LATENCY_REPORT") == "" {
		t.Skip("set FANOUT_LATENCY_REPORT=1 to run")
	}
	checkDelivered(t, []string{
		"fixed:20ms",
		"fixed:40ms",
		"uniform:min=10ms,max=30ms",
		"normal:mean=20ms,stddev=5ms",
		"lognormal:p50=40ms,p99=200ms",
		"lognormal:p50=20ms,p99=200ms,spike=0.01@300ms",
	}, 4000, 100)
}

// concurrency is how many requests the delivered-latency test keeps in
// flight: enough to be quick, few enough that the client and the server,
// sharing two cores, do not queue behind each other.
func concurrency() int {
	if raceEnabled {
		return 10
	}
	return 20
}

func checkDelivered(t *testing.T, specs []string, n, conc int) {
	c := noLatency(t)
	warm := model.Fixed(time.Millisecond)
	if err := c.SetConfig("results", model.Service{Latency: &warm}); err != nil {
		t.Fatal(err)
	}
	// Open the connections and run the delay path first, so that no sample
	// pays for a dial or a goroutine's first stack growth.
	delivered(t, c.Addr("results"), "/results/7", 10*conc, conc)
	for _, spec := range specs {
		l, err := model.ParseLatency(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetConfig("results", model.Service{Latency: &l}); err != nil {
			t.Fatal(err)
		}
		var problems []string
		for attempt := 1; attempt <= 3; attempt++ {
			problems = problems[:0]
			got := delivered(t, c.Addr("results"), "/results/7", n, conc)
			for _, q := range []float64{0.5, 0.99} {
				want := l.Quantile(q)
				obs := quantile(got, q)
				// Relative slack: 5 % at p50; 15 % at p99, whose estimate
				// is noisier. Absolute: 1 ms at p50, 3 ms at p99.
				rel, abs := 0.05, time.Millisecond
				if q > 0.5 {
					rel, abs = 0.15, 3*time.Millisecond
				}
				if raceEnabled {
					// The race detector slows the client and the server
					// several times; only gross errors remain visible.
					abs *= 3
				}
				slack := time.Duration(rel*float64(want)) + abs
				t.Logf("%-46s q%-4v model %-9v delivered %-9v error %+.3fms", spec, q, want.Round(time.Microsecond), obs.Round(time.Microsecond), float64(obs-want)/1e6)
				if obs < want-slack || obs > want+slack {
					problems = append(problems, fmt.Sprintf("%s: delivered q%v = %v, model says %v (slack %v)", spec, q, obs, want, slack))
				}
			}
			if len(problems) == 0 {
				break
			}
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
}

// TestNoLatencyIsFast checks that -no-latency really turns latency off:
// the default results model (40 ms) no longer delays anything.
func TestNoLatencyIsFast(t *testing.T) {
	fast := noLatency(t)
	got := delivered(t, fast.Addr("results"), "/results/1", 200, 4)
	if p50 := quantile(got, 0.5); p50 > 10*time.Millisecond {
		t.Errorf("p50 %v with latency off", p50)
	}
	slow := start(t, Options{})
	got = delivered(t, slow.Addr("layers"), "/layers/1", 20, 20)
	if p50 := quantile(got, 0.5); p50 < 14*time.Millisecond {
		t.Errorf("default layers latency: p50 %v, want about 15ms", p50)
	}
}

// TestHotPathAllocations guards the zero-latency hot path: serving a cached
// body must not allocate per request beyond a small constant.
func TestHotPathAllocations(t *testing.T) {
	c := noLatency(t)
	s := c.services["results"]
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/results/42")
	s.handle(&ctx) // warm the body cache
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		s.handle(&ctx)
	})
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
	if allocs > 1 {
		t.Errorf("%v allocations per request, want at most 1", allocs)
	}
}

// BenchmarkServe measures zero-latency serving over loopback, client and
// server in one process: req/s is the figure to read.
func BenchmarkServe(b *testing.B) {
	c := start(b, Options{NoLatency: true})
	for _, tt := range []struct{ service, path string }{
		{"experiments", "/experiments/42"},
		{"results", "/results/42"},
	} {
		b.Run(tt.service, func(b *testing.B) {
			hc := &fasthttp.HostClient{Addr: c.Addr(tt.service), MaxConns: 256}
			b.ReportAllocs()
			b.SetParallelism(16)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI("http://" + c.Addr(tt.service) + tt.path)
				for pb.Next() {
					if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("GET %s: %v %d", tt.path, err, resp.StatusCode())
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
