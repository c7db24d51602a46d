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

// delivered sends n GET requests to path at a constant rate (as a load
// generator does: arrivals do not wait for answers, so they stay spread
// instead of marching in lockstep) and returns each one's latency as the
// client saw it, sorted. At most maxOutstanding requests are out at once:
// should the machine stall, arrivals wait rather than pile up.
func delivered(t testing.TB, addr, path string, n int, rate float64) []time.Duration {
	t.Helper()
	const maxOutstanding = 64
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: maxOutstanding, MaxConnWaitTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second}
	slots := make(chan struct{}, maxOutstanding)
	defer hc.CloseIdleConnections()
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	uri := "http://" + addr + path
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for i := range n {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		} else if wait < -10*interval {
			// Behind schedule (the machine stalled): carry on from now
			// rather than fire the missed arrivals in one burst.
			next = time.Now()
		}
		next = next.Add(interval)
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			begin := time.Now()
			err := hc.Do(req, resp)
			out[i] = time.Since(begin)
			if err == nil && resp.StatusCode() != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode())
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
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
// for each model, 2000 requests (at a high rate, so the test stays short),
// p50 and p99 against the model's own quantiles. The bounds are strict
// below (a delay never ends early) and looser above, where a shared
// machine adds its stalls; a mock that ignored, halved or doubled a model
// would still fail. A model gets three attempts, since a burst of load
// elsewhere on the machine can spoil one. The log shows the error of each
// figure: -v to read it.
func TestDeliveredLatency(t *testing.T) {
	checkDelivered(t, []string{
		"fixed:5ms",
		"uniform:min=2ms,max=8ms",
		"normal:mean=5ms,stddev=1500us",
		"lognormal:p50=4ms,p99=12ms",
		"fixed:3ms,spike=0.05@6ms",
	}, 2000, testRate())
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
	}, 4000, 1000)
}

// testRate is the request rate of the delivered-latency test: high enough
// to be quick, low enough that the client and the server, sharing two
// cores, do not queue behind each other.
func testRate() float64 {
	if raceEnabled {
		return 1500
	}
	return 4000
}

func checkDelivered(t *testing.T, specs []string, n int, rate float64) {
	c := noLatency(t)
	none := model.None()
	// Open the connections and run the delay path first, so that no sample
	// pays for a dial or a goroutine's first stack growth.
	warm := model.Fixed(time.Millisecond)
	if err := c.SetConfig("results", model.Service{Latency: &warm}); err != nil {
		t.Fatal(err)
	}
	delivered(t, c.Addr("results"), "/results/7", n/4, rate)
	for _, spec := range specs {
		l, err := model.ParseLatency(spec)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		for attempt := 1; attempt <= 3; attempt++ {
			problems = problems[:0]
			// The round trip without delay, measured just before: what the
			// machine adds to any delay right now. It widens the upper
			// bounds on a busy machine; the lower bounds stay strict, since
			// a delay must never end early.
			if err := c.SetConfig("results", model.Service{Latency: &none}); err != nil {
				t.Fatal(err)
			}
			base := delivered(t, c.Addr("results"), "/results/7", n/4, rate)
			if err := c.SetConfig("results", model.Service{Latency: &l}); err != nil {
				t.Fatal(err)
			}
			svc := c.services["results"]
			first := svc.seq.Load() + 1
			got := delivered(t, c.Addr("results"), "/results/7", n, rate)
			// The delays the service drew for exactly these requests:
			// comparing with them leaves out the sampling noise of a
			// quantile (±0.5 ms on the median of a wide lognormal).
			drawn := make([]time.Duration, 0, n)
			for seq := first; seq <= svc.seq.Load(); seq++ {
				g := svc.randFor(seq)
				drawn = append(drawn, l.Sample(g.r))
				svc.rngs.Put(g)
			}
			slices.Sort(drawn)
			for _, q := range []float64{0.5, 0.99} {
				want := l.Quantile(q)
				obs := quantile(got, q)
				rtt := quantile(base, q)
				exact := quantile(drawn, q)
				// Never early: at most 5 % (p50) or 15 % (p99, a noisier
				// estimate from 2000 samples) below the model, plus 0.3 ms
				// of rounding. Not much late: the upper bounds are looser,
				// because a busy machine (other tests run beside this one)
				// adds its stalls to every figure; the round trip measured
				// just before widens them further. They still catch a mock
				// that doubles a model's median.
				rel, abs := 0.05, 300*time.Microsecond
				hiRel, hiAbs := 0.25, 2*time.Millisecond
				if q > 0.5 {
					rel, hiRel, hiAbs = 0.15, 1, 10*time.Millisecond
					if raceEnabled {
						// The race detector's slowdown turns short stalls
						// into long ones.
						hiAbs = 25 * time.Millisecond
					}
				}
				lo := want - time.Duration(rel*float64(want)) - abs
				hi := want + time.Duration(hiRel*float64(want)) + hiAbs + rtt
				t.Logf("%-46s q%-4v model %-9v drawn %-9v delivered %-9v error %+.3fms (vs drawn %+.3fms, round trip %v)",
					spec, q, want.Round(time.Microsecond), exact.Round(time.Microsecond), obs.Round(time.Microsecond),
					float64(obs-want)/1e6, float64(obs-exact)/1e6, rtt.Round(time.Microsecond))
				if obs < lo || obs > hi {
					problems = append(problems, fmt.Sprintf("%s: delivered q%v = %v, model says %v (want %v..%v)", spec, q, obs, want, lo, hi))
				}
				// Against the very delays drawn, the median may not end
				// early at all, beyond the bias' spread.
				if q == 0.5 && obs < exact-200*time.Microsecond {
					problems = append(problems, fmt.Sprintf("%s: delivered median %v is early: the drawn delays' median is %v", spec, obs, exact))
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
	got := delivered(t, fast.Addr("results"), "/results/1", 200, 2000)
	fastP50 := quantile(got, 0.5)
	slow := start(t, Options{})
	got = delivered(t, slow.Addr("layers"), "/layers/1", 20, 1000)
	slowP50 := quantile(got, 0.5)
	if slowP50 < 14*time.Millisecond {
		t.Errorf("default layers latency: p50 %v, want about 15ms", slowP50)
	}
	// An ordering with slack, not a wall-clock budget: with latency off the
	// p50 stays well under the 15 ms the default layers model injects.
	if fastP50*3 > slowP50*2 {
		t.Errorf("p50 %v with latency off, want well under the default %v", fastP50, slowP50)
	}
}

// TestHotPathAllocations guards the hot path: serving a cached body,
// without delay or through the delay timers, must not allocate per request
// beyond a small constant.
func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		// Under the race detector sync.Pool drops items on purpose, so
		// pooled objects are allocated again now and then.
		t.Skip("allocation counts are meaningless with -race")
	}
	c := noLatency(t)
	s := c.services["results"]
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/results/42")
	for _, spec := range []string{"none", "fixed:3500us"} {
		l, err := model.ParseLatency(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetConfig("results", model.Service{Latency: &l}); err != nil {
			t.Fatal(err)
		}
		s.handle(&ctx) // warm the body cache and the pools
		allocs := testing.AllocsPerRun(50, func() {
			ctx.Response.Reset()
			s.handle(&ctx)
		})
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("%s: status %d", spec, ctx.Response.StatusCode())
		}
		if allocs > 1 {
			t.Errorf("%s: %v allocations per request, want at most 1", spec, allocs)
		}
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
