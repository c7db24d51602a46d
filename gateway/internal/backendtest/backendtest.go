// Package backendtest serves fake backend services for the gateway's tests
// and benchmarks: the four services' routes with fixed data, a delay and a
// fault per service, over one in-memory or TCP listener. It is much smaller
// than the mock backends and has no randomness, so a test can say exactly
// what each backend does.
package backendtest

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// Services are the backend names the fake answers for, by path prefix.
var Services = []string{"experiments", "layers", "projects", "results"}

// Behaviour is what one service does with each request.
type Behaviour struct {
	Delay     time.Duration // before answering
	Status    int           // if not 0, answer this status with an error body
	Hang      bool          // never answer (until the Fake is closed)
	Malformed bool          // answer 200 with a body that is not JSON
	// DelayOnce delays the next request only, StatusOnce answers the next
	// request only with this status (and an error body): a slow or failed
	// first attempt whose second attempt (a hedge, a retry) goes well.
	DelayOnce  time.Duration
	StatusOnce int
}

// Fake is a set of fake backend services. It is safe for concurrent use.
type Fake struct {
	mu        sync.Mutex
	behaviour map[string]Behaviour
	calls     map[string]*atomic.Int64
	// traceparents holds the traceparent header of every request, by
	// service, in arrival order (guarded by mu).
	traceparents map[string][]string
	closed       chan struct{}
	closeOnce    sync.Once
	srv          *fasthttp.Server
	lns          []net.Listener
}

// New returns a Fake whose services all answer at once.
func New() *Fake {
	f := &Fake{behaviour: map[string]Behaviour{}, calls: map[string]*atomic.Int64{}, traceparents: map[string][]string{},
		closed: make(chan struct{})}
	for _, s := range Services {
		f.calls[s] = new(atomic.Int64)
	}
	f.srv = &fasthttp.Server{Handler: f.handle, Name: "backendtest", Logger: quiet{}}
	return f
}

// Set changes what a service does.
func (f *Fake) Set(service string, b Behaviour) {
	f.mu.Lock()
	f.behaviour[service] = b
	f.mu.Unlock()
}

// Traceparents returns the traceparent header of each request a service
// received, in arrival order ("" for a request without one).
func (f *Fake) Traceparents(service string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.traceparents[service])
}

// Calls returns how many requests a service received.
func (f *Fake) Calls(service string) int64 { return f.calls[service].Load() }

// InMemory serves the fake on an in-memory listener and returns a dial
// function that reaches it whatever the address.
func (f *Fake) InMemory() func(addr string) (net.Conn, error) {
	ln := fasthttputil.NewInmemoryListener()
	f.serve(ln)
	return func(string) (net.Conn, error) { return ln.Dial() }
}

// TCP serves the fake on 127.0.0.1 port 0 and returns the address; every
// service is reachable there.
func (f *Fake) TCP() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	f.serve(ln)
	return ln.Addr().String(), nil
}

// StartTCP starts a Fake on 127.0.0.1 port 0 for the test t, closed when
// the test ends, and returns it with its address.
func StartTCP(t testing.TB) (*Fake, string) {
	t.Helper()
	f := New()
	t.Cleanup(f.Close)
	addr, err := f.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return f, addr
}

// ClosedAddr returns a 127.0.0.1 address on which nothing listens: a
// backend that refuses every connection.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Addrs maps every service to addr, as the gateway's backend settings want.
func Addrs(addr string) map[string]string {
	m := map[string]string{}
	for _, s := range Services {
		m[s] = addr
	}
	return m
}

func (f *Fake) serve(ln net.Listener) {
	f.mu.Lock()
	f.lns = append(f.lns, ln)
	f.mu.Unlock()
	go func() { _ = f.srv.Serve(ln) }()
}

// Close releases hanging requests and stops serving.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		close(f.closed)
		f.mu.Lock()
		lns := f.lns
		f.mu.Unlock()
		for _, ln := range lns {
			_ = ln.Close()
		}
		_ = f.srv.Shutdown()
	})
}

func (f *Fake) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	seg := strings.Split(strings.Trim(path, "/"), "/")
	service := seg[0]
	counter := f.calls[service]
	if counter == nil {
		notFound(ctx)
		return
	}
	counter.Add(1)
	f.mu.Lock()
	b := f.behaviour[service]
	f.traceparents[service] = append(f.traceparents[service], string(ctx.Request.Header.Peek("traceparent")))
	if b.DelayOnce > 0 || b.StatusOnce != 0 {
		once := b
		once.DelayOnce, once.StatusOnce = 0, 0
		f.behaviour[service] = once
		b.Delay, b.Status = max(b.Delay, b.DelayOnce), cmp.Or(b.StatusOnce, b.Status)
	}
	f.mu.Unlock()
	if b.Hang {
		<-f.closed
		return
	}
	if b.Delay > 0 {
		select {
		case <-time.After(b.Delay):
		case <-f.closed:
		}
	}
	ctx.SetContentType("application/json")
	switch {
	case b.Status != 0:
		ctx.SetStatusCode(b.Status)
		ctx.SetBodyString(`{"error":"injected","code":"injected"}`)
		return
	case b.Malformed:
		ctx.SetBodyString(`{"id": "1", "project_id": `)
		return
	}
	id := 0
	if len(seg) > 1 {
		n, err := strconv.Atoi(seg[1])
		if err != nil || n < 1 || n > 1000 {
			notFound(ctx)
			return
		}
		id = n
	}
	switch {
	case service == "experiments" && len(seg) == 1 && ctx.IsPost():
		ctx.SetStatusCode(fasthttp.StatusCreated)
		ctx.SetBody(Experiment(1001))
	case service == "experiments" && len(seg) == 1:
		page := ctx.QueryArgs().GetUintOrZero("page")
		perPage := ctx.QueryArgs().GetUintOrZero("per_page")
		ctx.SetBody(ExperimentPage(page, perPage))
	case service == "experiments" && len(seg) == 2:
		ctx.SetBody(Experiment(id))
	case service == "layers" && len(seg) == 2:
		ctx.SetBody(Layer(id))
	case service == "projects" && len(seg) == 2:
		ctx.SetBody(Project(id))
	case service == "projects" && len(seg) == 3 && seg[2] == "settings":
		ctx.SetBody(Settings(id))
	case service == "results" && len(seg) == 2:
		ctx.SetBody(Results(id))
	default:
		notFound(ctx)
	}
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"error":"not found","code":"not_found"}`)
}

// Experiment is the body of experiment id: project (id-1)/20+1, layer id%7+1.
// It has every field the mock experiments service sends.
func Experiment(id int) []byte {
	s := strconv.Itoa(id)
	return []byte(`{"id":"` + s + `","project_id":"` + strconv.Itoa((id-1)/20+1) + `","layer_id":"` +
		strconv.Itoa(id%7+1) + `","name":"Experiment ` + s + `","description":"","status":"running",` +
		`"type":"a/b","traffic_allocation":1,` +
		`"variations":[{"id":"1","key":"control","name":"Control","weight":0.5},` +
		`{"id":"2","key":"treatment","name":"Treatment","weight":0.5}],` +
		`"metrics":[{"id":"1","key":"signup","name":"Signups"}],` +
		`"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z",` +
		`"started_at":"2026-01-02T00:00:00Z","ended_at":null}`)
}

// ExperimentPage is one page of a project's experiments.
func ExperimentPage(page, perPage int) []byte {
	if page < 1 {
		page = 1
	}
	if perPage < 1 {
		perPage = 25
	}
	return []byte(`{"items":[` + string(Experiment(1)) + `],"page":` + strconv.Itoa(page) +
		`,"per_page":` + strconv.Itoa(perPage) + `,"total":1,"total_pages":1,"project_id":"1"}`)
}

// Layer is the body of layer id.
func Layer(id int) []byte {
	s := strconv.Itoa(id)
	return []byte(`{"id":"` + s + `","project_id":"1","name":"Layer ` + s + `","traffic_allocation":0.4,` +
		`"allocations":[{"experiment_id":"42","traffic":0.25},{"experiment_id":"43","traffic":0.75}]}`)
}

// Project is the body of project id, with every field the mock projects
// service sends.
func Project(id int) []byte {
	s := strconv.Itoa(id)
	return []byte(`{"id":"` + s + `","account_id":"1001","name":"Project ` + s + `","description":"",` +
		`"platform":"web","status":"active","experiment_count":20,"layer_ids":["1","2"],` +
		`"created_at":"2025-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`)
}

// Settings is the body of project id's settings.
func Settings(id int) []byte {
	return []byte(`{"project_id":"` + strconv.Itoa(id) + `","confidence_threshold":0.9,"timezone":"UTC"}`)
}

// Results is the body of experiment id's results: two metrics, control and
// treatment, the treatment clearly better on the first.
func Results(id int) []byte {
	return []byte(`{"experiment_id":"` + strconv.Itoa(id) + `","metrics":[` +
		`{"id":"1","key":"signup","name":"Signups","baseline":"control","variations":[` +
		`{"variation_id":"1","key":"control","visitors":5000,"conversions":400,"rate":0.08,"lift":null,"confidence_interval":null,"p_value":null},` +
		`{"variation_id":"2","key":"treatment","visitors":5000,"conversions":470,"rate":0.094,"lift":0.175,"confidence_interval":{"low":0.03,"high":0.32,"level":0.95},"p_value":0.01}]},` +
		`{"id":"2","key":"purchase","name":"Purchases","baseline":"control","variations":[` +
		`{"variation_id":"1","key":"control","visitors":5000,"conversions":100},{"variation_id":"2","key":"treatment","visitors":5000,"conversions":104}]}],` +
		`"confidence_level":0.95,"stats_engine":"frequentist"}`)
}

// quiet drops fasthttp's messages about connections the client closed.
type quiet struct{}

func (quiet) Printf(string, ...any) {}
