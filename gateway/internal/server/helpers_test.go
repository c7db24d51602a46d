package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/spec"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// gateway is a Server under test on an in-memory listener.
type gateway struct {
	srv    *server.Server
	spec   *spec.Spec
	client *fasthttp.HostClient
	// ln is the listener the gateway serves, for raw connections.
	ln *fasthttputil.InmemoryListener
}

type gatewayOptions struct {
	mode     string
	poolSize int
	deadline time.Duration
	timeout  time.Duration
	// backends: service -> address; nil: every service on the fake.
	backends map[string]string
	// dial reaches the backends; nil: TCP.
	dial func(string) (net.Conn, error)
	// maxConns and maxConnWait bound each backend's connections; 0: the
	// defaults.
	maxConns    int
	maxConnWait time.Duration
	// logger receives the gateway's logs; nil: discarded.
	logger *slog.Logger
	// noHedge sets -hedge-budget 0, noCoalesce -coalesce off.
	noHedge, noCoalesce bool
	// resilience, if not nil, replaces the default policies.
	resilience *config.Resilience
	// tokens is the tokens file; "": one with assemblytest.Token.
	tokens string
	// redis is the store's URL; "": memory.
	redis string
	// idempotencyQuota is each token's quota of records; 0: the default.
	idempotencyQuota int
	// edit, if not nil, changes the settings last.
	edit func(*config.Config)
}

// startGateway serves a gateway, assembled as the binary assembles it, on
// an in-memory listener until the test ends.
func startGateway(t testing.TB, o gatewayOptions) *gateway {
	t.Helper()
	cfg := config.Default()
	if o.mode != "" {
		cfg.Mode = o.mode
	}
	if o.poolSize > 0 {
		cfg.PoolSize = o.poolSize
	}
	if o.deadline > 0 {
		cfg.Deadline = o.deadline
	}
	cfg.Backends = config.Backends(o.backends)
	if o.noHedge {
		cfg.HedgeBudget = 0
	}
	cfg.Coalesce = config.Switch(!o.noCoalesce)
	cfg.Options = backend.Options{Timeout: o.timeout, Dial: o.dial, MaxConns: o.maxConns, MaxConnWaitTimeout: o.maxConnWait}
	if o.resilience != nil {
		cfg.Resilience = *o.resilience
	}
	cfg.Tokens, cfg.Redis = o.tokens, o.redis
	if o.idempotencyQuota > 0 {
		cfg.IdempotencyQuota = o.idempotencyQuota
	}
	if o.edit != nil {
		o.edit(&cfg)
	}
	doc, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	gw := assemblytest.ServeOn(t, cfg, o.logger, ln)
	return &gateway{
		srv:  gw.Server(),
		spec: doc,
		ln:   ln,
		client: &fasthttp.HostClient{
			Addr:     "gateway",
			Dial:     func(string) (net.Conn, error) { return ln.Dial() },
			MaxConns: 64,
		},
	}
}

// withFake starts a fake backend set reached in memory.
func withFake(t testing.TB, o gatewayOptions) (*gateway, *backendtest.Fake) {
	t.Helper()
	f := backendtest.New()
	t.Cleanup(f.Close)
	o.dial = f.InMemory()
	if o.backends == nil {
		o.backends = backendtest.Addrs("fake:1")
	}
	return startGateway(t, o), f
}

// authHeader is the test token's Authorization header line, for raw
// requests.
const authHeader = "Authorization: " + assemblytest.Authorization + "\r\n"

// response is a gateway's answer, copied out of fasthttp.
type response struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (g *gateway) do(t testing.TB, method, uri, contentType string, body []byte) response {
	t.Helper()
	return g.exchange(t, method, uri, func(req *fasthttp.Request) {
		if contentType != "" {
			req.Header.SetContentType(contentType)
		}
		if body != nil {
			req.SetBody(body)
		}
	}, nil)
}

// exchange sends method uri with the test token, after edit (if not nil)
// has set the rest of the request and prepare (if not nil) the response,
// and copies the answer out of fasthttp.
func (g *gateway) exchange(t testing.TB, method, uri string, edit func(*fasthttp.Request), prepare func(*fasthttp.Response)) response {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://gateway" + uri)
	req.Header.Set("Authorization", assemblytest.Authorization)
	if edit != nil {
		edit(req)
	}
	if prepare != nil {
		prepare(resp)
	}
	start := time.Now()
	if err := g.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	r := response{status: resp.StatusCode(), header: http.Header{}, body: append([]byte(nil), resp.Body()...), took: time.Since(start)}
	for k, v := range resp.Header.All() {
		r.header.Add(string(k), string(v))
	}
	return r
}

// admin asks the gateway's admin handler for path.
func (g *gateway) admin(t testing.TB, path string) response {
	t.Helper()
	rec := httptest.NewRecorder()
	start := time.Now()
	g.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes(), took: time.Since(start)}
}

func (g *gateway) get(t testing.TB, uri string) response {
	t.Helper()
	return g.do(t, fasthttp.MethodGet, uri, "", nil)
}

// validateResponse checks a response against the document's operation for
// the request: status declared, headers and body matching the schema.
func (g *gateway) validateResponse(t testing.TB, method, uri string, r response) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	route, params := g.route(t, method, u.Path)
	req, _ := http.NewRequest(method, "http://gateway"+uri, nil)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
		},
		Status: r.status,
		Header: r.header,
		Body:   io.NopCloser(bytes.NewReader(r.body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s -> %d does not match the document: %v\nbody: %s", method, uri, r.status, err, r.body)
	}
}

// route finds the operation of a request by matching the document's path
// templates segment by segment.
func (g *gateway) route(t testing.TB, method, path string) (*routers.Route, map[string]string) {
	t.Helper()
	want := strings.Split(path, "/")
	for _, op := range g.spec.Operations() {
		if op.Method != method {
			continue
		}
		tmpl := strings.Split(op.Path, "/")
		if len(tmpl) != len(want) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, seg := range tmpl {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				params[seg[1:len(seg)-1]] = want[i]
			} else if seg != want[i] {
				ok = false
				break
			}
		}
		if ok {
			return op.Route(), params
		}
	}
	t.Fatalf("no operation for %s %s", method, path)
	return nil, nil
}
