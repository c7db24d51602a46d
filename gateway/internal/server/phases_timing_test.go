package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/compose"
	"fanout/gateway/internal/spec"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// benchServer is a concurrent-mode server whose backends answer at once
// from an in-memory listener in this process.
func benchServer(b testing.TB) (*Server, *backendtest.Fake) {
	b.Helper()
	data, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		b.Fatal(err)
	}
	return serverOf(b, data)
}

// serverOf is a Server of the document data in front of a fake backend
// set reached in memory, in the concurrent mode, authentication off.
func serverOf(b testing.TB, data []byte) (*Server, *backendtest.Fake) {
	b.Helper()
	s, f, err := tryServerOf(b, data)
	if err != nil {
		b.Fatal(err)
	}
	return s, f
}

// tryServerOf is serverOf, with New's error.
func tryServerOf(b testing.TB, data []byte) (*Server, *backendtest.Fake, error) {
	b.Helper()
	doc, err := spec.Load(data)
	if err != nil {
		return nil, nil, err
	}
	f := backendtest.New()
	b.Cleanup(f.Close)
	dial := f.InMemory()
	bs := map[string]backend.Backend{}
	for name, addr := range backendtest.Addrs("fake:1") {
		bs[name] = backend.Backend{Addr: addr}
	}
	clients, err := backend.New(bs, backend.Options{Dial: dial})
	if err != nil {
		b.Fatal(err)
	}
	exec, _ := fanout.New(fanout.ModeConcurrent, fanout.Options{})
	s, err := New(Config{Spec: doc, Executor: exec, Backends: clients,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return s, f, err
}

// benchExecution runs o's plan once an iteration on the Doer that open
// returns, failing unless call check succeeded. A Doer with a Release
// method (an Exchange) is released after the Result, as a request does.
func benchExecution(b *testing.B, s *Server, o *operation, check int, open func() fanout.Doer) {
	var p params
	p.add("experiment_id", "42")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithTimeout(ctx, time.Second)
		d := open()
		res := s.exec.Execute(c, o.plan, &p, d)
		if !res.Outcomes[check].OK() {
			b.Fatal(res.Outcomes[check].Err, res.Outcomes[check].Status)
		}
		res.Release()
		if r, ok := d.(interface{ Release() }); ok {
			r.Release()
		}
		cancel()
	}
}

// cannedDoer answers every call from memory, so that the engine's own cost
// shows without any HTTP.
type cannedDoer struct{}

func (cannedDoer) Do(_ context.Context, backend, _, _ string) (int, []byte, error) {
	switch backend {
	case "experiments":
		return 200, experimentBody, nil
	case "layers":
		return 200, layerBody, nil
	case "projects":
		return 200, settingsBody, nil
	default:
		return 200, resultsBody, nil
	}
}

var (
	experimentBody = backendtest.Experiment(42)
	layerBody      = backendtest.Layer(1) // experiment 42's layer: the gateway checks the identity
	settingsBody   = backendtest.Settings(3)
	resultsBody    = backendtest.Results(42)
)

// BenchmarkResultsPhases splits one results-page request into its phases:
// validation, plan execution (engine alone, and with the HTTP client to
// in-memory backends), response composition with Server-Timing, and the
// whole request through the router.
func BenchmarkResultsPhases(b *testing.B) {
	s, _ := benchServer(b)
	o := s.ops["getExperimentResults"]

	b.Run("validation", func(b *testing.B) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/v2/experiments/42/results")
		ctx.SetUserValue("experiment_id", "42")
		b.ReportAllocs()
		for b.Loop() {
			if bad := validate(&ctx, o.doc); bad != nil {
				b.Fatal(bad)
			}
		}
	})

	b.Run("execution-engine", func(b *testing.B) {
		benchExecution(b, s, o, 0, func() fanout.Doer { return cannedDoer{} })
	})

	b.Run("execution-http", func(b *testing.B) {
		benchExecution(b, s, o, 3, func() fanout.Doer { return s.backends.Exchange() })
	})

	b.Run("composition", func(b *testing.B) {
		var p params
		p.add("experiment_id", "42")
		res := s.exec.Execute(context.Background(), o.plan, &p, cannedDoer{})
		defer res.Release()
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			in := compose.Input{Experiment: experimentBody, Layer: layerBody, Settings: settingsBody, Results: resultsBody}
			var err error
			buf, err = compose.ResultsPage(buf[:0], &in)
			if err != nil {
				b.Fatal(err)
			}
			buf = appendTiming(buf[:0], o.plan, res, time.Microsecond, time.Millisecond)
		}
	})

	b.Run("whole-request", func(b *testing.B) { benchHandler(b, s, "") })
}

// benchHandler serves results pages through s's handler on one reused
// RequestCtx, with the Authorization header auth ("": none), each of them
// a 200.
func benchHandler(b *testing.B, s *Server, auth string) {
	h := s.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.ResetUserValues()
		ctx.Request.SetRequestURI("/v2/experiments/42/results")
		if auth != "" {
			ctx.Request.Header.Set("Authorization", auth)
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// servedClient serves s on an in-memory listener until the benchmark ends
// and returns a client of it, host "gateway".
func servedClient(b testing.TB, s *Server) *fasthttp.HostClient {
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return &fasthttp.HostClient{Addr: "gateway", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

// BenchmarkFakeBackends measures what the in-process fake backends cost per
// results request (four exchanges over the in-memory listener, client and
// server sides), to subtract from execution-http and whole-request.
func BenchmarkFakeBackends(b *testing.B) {
	s, _ := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ex := s.backends.Exchange()
		for _, call := range [][2]string{{"experiments", "/experiments/42"}, {"layers", "/layers/3"}, {"projects", "/projects/3/settings"}, {"results", "/results/42"}} {
			if st, _, err := ex.Do(ctx, call[0], "GET", call[1]); err != nil || st != 200 {
				b.Fatal(st, err)
			}
		}
		ex.Release()
	}
}

// BenchmarkResultsServed is a whole results request as a client sees it:
// the gateway's fasthttp server reads it from a connection and writes the
// response, over in-memory listeners on both sides.
func BenchmarkResultsServed(b *testing.B) {
	s, _ := benchServer(b)
	client := servedClient(b, s)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://gateway/v2/experiments/42/results")
	b.ReportAllocs()
	for b.Loop() {
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatal(err, resp.StatusCode())
		}
	}
}

// TestHotPathAllocations guards the allocations of validating a request
// and of running the plan: a regression here costs every request.
func TestHotPathAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are checked without -short and -race")
	}
	s, _ := benchServer(t)
	o := s.ops["getExperimentResults"]
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/v2/experiments/42/results")
	ctx.SetUserValue("experiment_id", "42")
	// A valid request whose parameters are plain strings is checked
	// without kin-openapi (spec's quick check): nothing allocated.
	if n := testing.AllocsPerRun(100, func() { validate(&ctx, o.doc) }); n > 0 {
		t.Errorf("validation: %v allocations, want 0", n)
	}
	var p params
	p.add("experiment_id", "42")
	// A call's policies reach it through the request's PolicyDoer, never
	// through its context: a call declaring one costs nothing here.
	if n := testing.AllocsPerRun(100, func() {
		s.exec.Execute(context.Background(), o.plan, &p, cannedDoer{}).Release()
	}); n > 16 {
		t.Errorf("plan execution: %v allocations, want at most 16", n)
	}
	// A whole request, read and written by fasthttp, with the in-memory
	// fake backends' own allocations (about 12): the request's deadline
	// is a lazy context in its pooled state, and a failed call's error is
	// matched without escaping, so 23 in all.
	client := servedClient(t, s)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://gateway/v2/experiments/42/results")
	if n := testing.AllocsPerRun(200, func() {
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatal(err, resp.StatusCode())
		}
	}); n > 24 {
		t.Errorf("a whole results request: %v allocations, want at most 24", n)
	}
}
