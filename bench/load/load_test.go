package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// slowServer answers after delay with a Server-Timing header, or with 504
// while failing is set.
func slowServer(t *testing.T, delay time.Duration, failing *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if failing != nil && failing.Load() {
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		w.Header().Set("Server-Timing", "a;dur=10.00;start=0.00, b;dur=5.00;start=10.00, total;dur=15.50")
		w.Header().Set("X-Noise", "dropped from the results file")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunOpenModel(t *testing.T) {
	// A server that takes 100ms, offered 100 req/s: a closed-model client
	// with few workers would fall behind; the open model keeps the rate
	// and reports the server's own latency.
	srv := slowServer(t, 100*time.Millisecond, nil)
	var out bytes.Buffer
	rep, err := Run(context.Background(), Attack{
		Name: "test", BaseURL: srv.URL, Rate: 100, Duration: time.Second, Seed: 1, Out: &out,
		Targets: []Target{
			{Name: "one", Method: "GET", Path: "/x/{id}", IDs: IDRange{Min: 1, Max: 10}, Weight: 3},
			{Name: "two", Method: "GET", Path: "/y", Weight: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests < 90 || rep.Requests > 110 {
		t.Errorf("%d requests, want about 100", rep.Requests)
	}
	if rep.Success != 1 || rep.Codes["200"] != rep.Requests {
		t.Errorf("success %v codes %v", rep.Success, rep.Codes)
	}
	if rep.Rate < 80 {
		t.Errorf("achieved rate %.1f, want about 100 (open model)", rep.Rate)
	}
	if rep.Limited(100) != (rep.Rate < GeneratorLimit*100) {
		t.Errorf("Limited(100) = %v at an achieved %.1f req/s", rep.Limited(100), rep.Rate)
	}
	if rep.GeneratorCPU <= 0 || rep.GeneratorCPUShare <= 0 || rep.GeneratorCPUShare > 1 {
		t.Errorf("generator CPU %v (share %.3f): want some, at most every core", rep.GeneratorCPU, rep.GeneratorCPUShare)
	}
	if rep.Latency.P50 < 100*time.Millisecond || rep.Latency.P50 > 5*100*time.Millisecond {
		t.Errorf("p50 %v, want a little over 100ms", rep.Latency.P50)
	}
	if !(rep.Latency.P50 <= rep.Latency.P90 && rep.Latency.P90 <= rep.Latency.P99 && rep.Latency.P99 <= rep.Latency.Max) {
		t.Errorf("percentiles out of order: %+v", rep.Latency)
	}
	if one, two := rep.Targets["one"], rep.Targets["two"]; one.Requests+two.Requests != rep.Requests || one.Requests < two.Requests {
		t.Errorf("per-target figures: one %d, two %d of %d requests (weights 3:1)", one.Requests, two.Requests, rep.Requests)
	}
	if rep.Timing == nil || len(rep.Timing.Calls) != 2 || rep.TimingTarget == "" {
		t.Errorf("no sample Server-Timing: %+v %q", rep.Timing, rep.TimingTarget)
	}
	// The results file is vegeta's encoding, with only the kept headers.
	results := decodeResults(t, &out)
	for _, r := range results {
		if r.Headers.Get("X-Noise") != "" || r.Headers.Get("Server-Timing") == "" {
			t.Fatalf("headers in the results file: %v", r.Headers)
		}
	}
	if len(results) != rep.Requests {
		t.Errorf("%d results in the file, %d in the report", len(results), rep.Requests)
	}
}

// decodeResults reads a results file in vegeta's encoding to its end.
func decodeResults(t *testing.T, in io.Reader) []vegeta.Result {
	t.Helper()
	dec := vegeta.NewDecoder(in)
	var out []vegeta.Result
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestRunPhases(t *testing.T) {
	var failing atomic.Bool
	srv := slowServer(t, time.Millisecond, &failing)
	var fired []int
	rep, err := Run(context.Background(), Attack{
		Name: "phases", BaseURL: srv.URL, Rate: 100, Duration: 1500 * time.Millisecond,
		Targets:    []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
		Phases:     []time.Duration{500 * time.Millisecond, time.Second},
		PhaseNames: []string{"before", "degraded", "recovered"},
		At: func(i int) {
			fired = append(fired, i)
			failing.Store(i == 0)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fired) != 2 {
		t.Fatalf("phase callbacks %v, want [0 1]", fired)
	}
	before, degraded, recovered := rep.Phases["before"], rep.Phases["degraded"], rep.Phases["recovered"]
	if before.Success < 0.95 || recovered.Success < 0.9 {
		t.Errorf("success before %v, recovered %v: want about 1", before.Success, recovered.Success)
	}
	if degraded.CodeFraction(504) < 0.8 || degraded.Errors["http_504"] == 0 {
		t.Errorf("degraded phase: codes %v errors %v, want mostly 504", degraded.Codes, degraded.Errors)
	}
	if len(rep.Timeline) < 10 || rep.Timeline[0].Success < 0.9 || rep.Timeline[len(rep.Timeline)/2].Success > 0.1 {
		t.Errorf("timeline does not show the degradation: %+v", rep.Timeline)
	}
	if got := before.Requests + degraded.Requests + recovered.Requests; got != rep.Requests {
		t.Errorf("phases hold %d requests, the run %d", got, rep.Requests)
	}
}

// partialServer answers every third request 504 and, of the others, every
// second one 200 with the gateway's partial-page header.
func partialServer(t *testing.T) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		switch {
		case i%3 == 0:
			w.WriteHeader(http.StatusGatewayTimeout)
		case i%2 == 0:
			w.Header().Set(PartialHeader, "layer, settings")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunCountsCompletePartialAndFailedApart(t *testing.T) {
	srv := partialServer(t)
	var out bytes.Buffer
	rep, err := Run(context.Background(), Attack{
		Name: "partial", BaseURL: srv.URL, Rate: 200, Duration: time.Second, Out: &out,
		Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(rep.Requests)
	failed, partial := float64(rep.Codes["504"])/n, 0.0
	for _, r := range decodeResults(t, &out) {
		if r.Code == 200 && r.Headers.Get(PartialHeader) != "" {
			partial++
		}
	}
	partial /= n
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if rep.Failed == 0 || rep.Partial == 0 || !near(rep.Failed, failed) || !near(rep.Partial, partial) {
		t.Errorf("failed %.4f partial %.4f, the results say %.4f and %.4f", rep.Failed, rep.Partial, failed, partial)
	}
	if !near(rep.Complete+rep.Partial+rep.Failed, 1) || !near(rep.Success, rep.Complete+rep.Partial) {
		t.Errorf("complete %.4f + partial %.4f + failed %.4f, success %.4f: want a split of every request, success = 2xx",
			rep.Complete, rep.Partial, rep.Failed, rep.Success)
	}
	// A fast server: nearly every complete answer arrives within the
	// window.
	if most := rep.Complete * rep.Rate; rep.Throughput > most || rep.Throughput < 0.95*most {
		t.Errorf("throughput %.2f/s, want the complete answers per second of the window (at most %.2f)", rep.Throughput, most)
	}
}

func TestThroughputNeverExceedsTheAchievedRate(t *testing.T) {
	// A fast server answers every request completely: throughput is then
	// as high as it can be, and still no higher than the rate of sending.
	srv := slowServer(t, 0, nil)
	for _, rate := range []float64{50, 200} {
		rep, err := Run(context.Background(), Attack{
			Name: "fast", BaseURL: srv.URL, Rate: rate, Duration: 500 * time.Millisecond,
			Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Complete != 1 {
			t.Fatalf("@%v: complete %.3f, want every answer complete", rate, rep.Complete)
		}
		if rep.Throughput > rep.Rate || rep.Rate > rate*1.01 {
			t.Errorf("@%v: throughput %.2f/s above the achieved rate %.2f/s, or that above the offered", rate, rep.Throughput, rep.Rate)
		}
	}
}

func TestThroughputIsWhatTheServerDelivered(t *testing.T) {
	// One worker taking 50ms serves 20 req/s. Offered 50 req/s for a
	// second, with a timeout long enough for every request: all are
	// answered, over 2.5 s, so completions per second of the window
	// (50/s) would overstate what it delivered.
	// The worker is virtual: each request is given the end of the queue
	// as it arrives, so the queue is first-come first-served and takes
	// exactly 50ms a request however the goroutines are scheduled.
	var mu sync.Mutex
	var free time.Time
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if now := time.Now(); free.Before(now) {
			free = now
		}
		free = free.Add(50 * time.Millisecond)
		done := free
		mu.Unlock()
		time.Sleep(time.Until(done))
	}))
	t.Cleanup(queue.Close)
	// A server that keeps up with 300ms answers delivers what it is
	// sent, though the last answers arrive after the window.
	steady := slowServer(t, 300*time.Millisecond, nil)
	fast := slowServer(t, 40*time.Millisecond, nil)
	for _, tc := range []struct {
		name     string
		url      string
		rate     float64
		d        time.Duration
		min, max float64 // throughput as a share of the achieved rate
	}{
		{"queue", queue.URL, 50, time.Second, 0.2, 0.6},
		{"steady", steady.URL, 50, time.Second, 0.9, 1},
		// Four requests: every answer counts, not three of them.
		{"few", fast.URL, 10, 400 * time.Millisecond, 1, 1},
	} {
		rep, err := Run(context.Background(), Attack{
			Name: tc.name, BaseURL: tc.url, Rate: tc.rate, Duration: tc.d, Timeout: 10 * time.Second,
			Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if share := rep.Throughput / rep.Rate; rep.Complete != 1 || share < tc.min || share > tc.max {
			t.Errorf("%s: complete %.2f, throughput %.1f/s at %.1f req/s sent: want %.0f%% to %.0f%% of it",
				tc.name, rep.Complete, rep.Throughput, rep.Rate, 100*tc.min, 100*tc.max)
		}
	}
}

func TestLatencySlopeShowsAQueueBuilding(t *testing.T) {
	// A server that makes each request wait 2ms longer than the one
	// before, as a queue past its knee does: latency grows with time.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(n.Add(1)) * 2 * time.Millisecond)
	}))
	t.Cleanup(srv.Close)
	growing, err := Run(context.Background(), Attack{
		Name: "queue", BaseURL: srv.URL, Rate: 50, Duration: time.Second,
		Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	flat, err := Run(context.Background(), Attack{
		Name: "flat", BaseURL: slowServer(t, 2*time.Millisecond, nil).URL, Rate: 50, Duration: time.Second,
		Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 50 req/s, 2ms more each: 0.1 s of latency per second of run.
	if growing.LatencySlope < 0.05 || flat.LatencySlope > growing.LatencySlope/4 {
		t.Errorf("slopes: growing queue %.3f, flat server %.3f: want about 0.1 and about 0", growing.LatencySlope, flat.LatencySlope)
	}
}

func TestRunErrorsAreData(t *testing.T) {
	// Nothing listens there: every request fails, the run does not.
	rep, err := Run(context.Background(), Attack{
		Name: "down", BaseURL: "http://127.0.0.1:1", Rate: 50, Duration: 200 * time.Millisecond,
		Targets: []Target{{Name: "x", Method: "GET", Path: "/", Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Success != 0 || rep.Errors["refused"] != rep.Requests || rep.CodeFraction(0) != 1 {
		t.Fatalf("errors %v codes %v", rep.Errors, rep.Codes)
	}
}

func TestRunRejectsBadAttack(t *testing.T) {
	for _, a := range []Attack{
		{Rate: 0, Duration: time.Second, Targets: []Target{{Path: "/"}}},
		{Rate: 1, Duration: time.Second},
		{Rate: 1, Duration: time.Second, Targets: []Target{{Path: "/"}}, Phases: []time.Duration{1}},
	} {
		if _, err := Run(context.Background(), a); err == nil {
			t.Errorf("Run(%+v) succeeded", a)
		}
	}
}

// TestTargetsAskForIdentity: the attack asks for bodies as they are. Go's
// transport would otherwise ask for gzip on its own, and the gateway
// would spend CPU per request compressing pages that vegeta decompresses,
// a cost the bench does not mean to measure.
func TestTargetsAskForIdentity(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.Header.Get("Accept-Encoding")+" "+r.Header.Get("Content-Type")]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	_, err := Run(context.Background(), Attack{
		Name: "test", BaseURL: srv.URL, Rate: 40, Duration: 500 * time.Millisecond, Seed: 1,
		Targets: []Target{
			{Name: "get", Method: "GET", Path: "/x", Weight: 1},
			{Name: "post", Method: "POST", Path: "/y", Body: `{}`, Weight: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for k := range seen {
		if k != "GET identity " && k != "POST identity application/json" {
			t.Errorf("a request %q (method, Accept-Encoding, Content-Type), want identity", k)
		}
	}
	if len(seen) != 2 {
		t.Errorf("requests seen: %v, want GETs and POSTs", seen)
	}
}

// TestServedAndFailedLatencyApart: a fast refusal and a slow page are
// measured apart, so that a scenario can ask how fast a gateway refuses and
// how well it serves, which the whole distribution mixes up.
func TestServedAndFailedLatencyApart(t *testing.T) {
	recs := []record{
		{code: 200, latency: 40 * time.Millisecond},
		{code: 200, latency: 50 * time.Millisecond},
		{code: 503, latency: time.Millisecond},
		{code: 503, latency: 2 * time.Millisecond},
		{code: 502, latency: 40 * time.Millisecond}, // tried and failed: not refused
		{code: 0, latency: 5 * time.Second},         // no answer: in neither
	}
	s := summarise(recs, 0, time.Second, nil)
	if s.OKLatency.Max != 50*time.Millisecond || s.OKLatency.P50 < 40*time.Millisecond {
		t.Errorf("served latency %+v, want 40 to 50 ms", s.OKLatency)
	}
	if s.FailedLatency.Max != 40*time.Millisecond {
		t.Errorf("failed latency %+v, want up to the 502's 40 ms", s.FailedLatency)
	}
	if s.RefusedLatency.Max != 2*time.Millisecond || s.RefusedLatency.P50 < time.Millisecond {
		t.Errorf("refused latency %+v, want the 503s' 1 to 2 ms", s.RefusedLatency)
	}
	if s.Latency.Max != 5*time.Second {
		t.Errorf("whole latency max %v, want 5 s", s.Latency.Max)
	}
}
