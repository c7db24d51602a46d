package hardening

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/mockbackends/mock"

	"github.com/valyala/fasthttp"
)

// gatewayOptions configure a gateway under test; zero fields take the
// gateway's defaults.
type gatewayOptions struct {
	deadline time.Duration
	limits   server.Limits
}

// gateway is the assembled gateway serving on 127.0.0.1 port 0 in front of a mock
// cluster, until the test ends.
type gateway struct {
	addr     string
	srv      *server.Server
	backends *backend.Clients
}

// startGateway starts a gateway over the cluster's services.
func startGateway(t testing.TB, cluster *mock.Cluster, o gatewayOptions) *gateway {
	t.Helper()
	cfg := config.Default()
	cfg.Backends = config.Backends(cluster.Addrs())
	if o.deadline > 0 {
		cfg.Deadline = o.deadline
	}
	cfg.Limits = o.limits
	gw, addr := assemblytest.Serve(t, cfg)
	return &gateway{addr: addr, srv: gw.Server(), backends: gw.Backends()}
}

// startCluster starts the mock backends without latency until the test ends.
func startCluster(t testing.TB) *mock.Cluster {
	t.Helper()
	return assemblytest.Cluster(t, mock.Options{NoLatency: true, Seed: 1})
}

// answer is a response read off the wire.
type answer struct {
	status      int
	contentType string
	allow       string
	requestID   string // X-Request-Id
	body        []byte
	took        time.Duration
}

// exchange sends raw bytes on a new connection and reads one response. A
// raw connection sends what a client library would refuse to. head: the
// request is a HEAD, whose response has no body. halfClose: close the
// sending side once the request is written.
func exchange(t testing.TB, addr string, req []byte, head, halfClose bool) (answer, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	// Write concurrently: the server may answer (and stop reading) before
	// the request is fully sent.
	go func() {
		_, _ = c.Write(req)
		if halfClose {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}()
	var resp fasthttp.Response
	resp.SkipBody = head
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		return answer{}, err
	}
	return answer{
		status:      resp.StatusCode(),
		contentType: string(resp.Header.ContentType()),
		allow:       string(resp.Header.Peek("Allow")),
		requestID:   string(resp.Header.Peek("X-Request-Id")),
		body:        append([]byte(nil), resp.Body()...),
		took:        time.Since(start),
	}, nil
}

// authHeader is the test token's Authorization header line, which every
// raw request carries after its Host line: a hostile request is judged on
// its own fault, not on a missing token.
const authHeader = "Authorization: " + assemblytest.Authorization + "\r\n"

// authGet is GetTimeout with the test token, through client (nil: the
// default client).
func authGet(client *fasthttp.HostClient, url string, timeout time.Duration) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.Set("Authorization", assemblytest.Authorization)
	var err error
	if client != nil {
		err = client.DoTimeout(req, resp, timeout)
	} else {
		err = fasthttp.DoTimeout(req, resp, timeout)
	}
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// checkProblem asserts that a is a problem+json of the status and type and
// returns it.
func checkProblem(t testing.TB, a answer, status int, typ string) problem.Problem {
	t.Helper()
	var p problem.Problem
	if a.contentType != problem.ContentType {
		t.Errorf("Content-Type %q, want %q; status %d, body %.300s", a.contentType, problem.ContentType, a.status, a.body)
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Errorf("body is not a problem: %v: %.300s", err, a.body)
	}
	if a.status != status || p.Status != status || p.Type != typ || p.Title == "" {
		t.Errorf("status %d, problem %d %q, want %d %q: %.300s", a.status, p.Status, p.Type, status, typ, a.body)
	}
	return p
}

// settleGoroutines waits until the goroutines are back to at most
// baseline+slack, closing the gateway's idle backend connections (whose
// serving goroutines live in the in-process backends) on each round.
func settleGoroutines(t testing.TB, g *gateway, baseline, slack int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.backends.CloseIdleConnections()
		n, stacks := goroutines()
		if n <= baseline+slack {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, baseline %d (+%d slack) not reached\n%s", n, baseline, slack, stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// baselineGoroutines is the goroutine count once the gateway's idle backend
// connections are closed and the count is steady.
func baselineGoroutines(g *gateway) int {
	prev := -1
	for i := 0; i < 50; i++ {
		g.backends.CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
		n, _ := goroutines()
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

// goroutines counts the goroutines, as runtime.NumGoroutine does, except
// fasthttp's idle server workers and the engine's idle workers: each pool
// keeps those for reuse for seconds after a burst, and they hold nothing.
// It returns the stacks it counted too.
func goroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var kept []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.SplitN(g, "\n", 3)
		if len(lines) >= 2 && strings.Contains(lines[0], "[chan receive") &&
			(strings.HasPrefix(lines[1], "github.com/valyala/fasthttp.(*workerPool).workerFunc(") ||
				strings.HasPrefix(lines[1], "fanout/gateway/fanout.work(")) {
			continue
		}
		kept = append(kept, g)
	}
	return len(kept), strings.Join(kept, "\n\n")
}

// gauge is the value of the gateway's metric name (a gauge without
// labels), -1 if it has none.
func (g *gateway) gauge(name string) int {
	var b bytes.Buffer
	g.srv.Metrics().WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// openConns is the number of client connections the gateway holds open.
func (g *gateway) openConns() int { return g.gauge("fanout_client_connections") }
