package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/server"
	"fanout/mockbackends/mock"
)

// tcpGateway serves a concurrent-mode gateway over the cluster's services
// on a 127.0.0.1 port until the test ends, and returns its address: the
// client watch needs a real socket, which the in-memory listener is not.
func tcpGateway(t *testing.T, c *mock.Cluster, limits server.Limits) string {
	t.Helper()
	cfg := config.Default()
	cfg.Backends = config.Backends(c.Addrs())
	cfg.Limits = limits
	_, addr := assemblytest.Serve(t, cfg)
	return addr
}

const resultsRequest = "GET /v2/experiments/42/results HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n"

// TestClientGoneCancelsCalls: clients that send a results request and go
// away (half of them close, half reset) while the experiment call is in
// flight leave no work behind: the layer and settings calls, which wait
// for the experiment, are never sent, so the mocks are idle as soon as the
// calls in flight end, long before the slow layers and projects would
// have let go.
func TestClientGoneCancelsCalls(t *testing.T) {
	const first, slow = 300 * time.Millisecond, 2 * time.Second
	c := startMocks(t, mock.Options{Config: latencies(t, map[string]string{
		"experiments": fmt.Sprintf("fixed:%v", first), "results": fmt.Sprintf("fixed:%v", first),
		"layers": fmt.Sprintf("fixed:%v", slow), "projects": fmt.Sprintf("fixed:%v", slow),
	})})
	addr := tcpGateway(t, c, server.Limits{})
	const n = 20
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = conn.(*net.TCPConn)
		defer conn.Close()
		// One experiment per request: the experiment call is coalesced,
		// and each request must have its own call in flight.
		req := strings.Replace(resultsRequest, "/42/", fmt.Sprintf("/%d/", i+1), 1)
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "every request to reach the experiments backend", func() bool { return c.Stats("experiments").InFlight == n })
	closed := time.Now()
	for i, conn := range conns {
		if i%2 == 1 {
			_ = conn.SetLinger(0) // the close resets the connection
		}
		_ = conn.Close()
	}
	poll.Until(t, 10*time.Second, "the mocks to be idle", func() bool { return inFlight(c) == 0 })
	idle := time.Since(closed)
	t.Logf("the mocks were idle %v after the clients left (in-flight calls %v, slow calls %v)", idle, first, slow)
	if idle > slow/2 {
		t.Errorf("the mocks were busy for %v after the clients left, want less than half the slow calls' %v", idle, slow)
	}
	for _, s := range []string{"layers", "projects"} {
		if got := c.Stats(s).Requests; got != 0 {
			t.Errorf("%s received %d requests for clients that were gone, want 0", s, got)
		}
	}
}

// TestClientWatchKeepsConnection: watching the client neither eats nor
// loses its bytes and leaves fasthttp's deadlines as they were: a request
// pipelined while the previous one is fanned out is answered after it, the
// first answer is whole (the pipelined bytes are not taken for a client
// gone), a later request on the same keep-alive connection is served, and
// the idle timeout still closes the connection.
func TestClientWatchKeepsConnection(t *testing.T) {
	c := startMocks(t, mock.Options{Config: latencies(t, map[string]string{
		"experiments": "fixed:100ms", "results": "fixed:100ms", "layers": "fixed:20ms", "projects": "fixed:20ms",
	})})
	const idle = 300 * time.Millisecond
	addr := tcpGateway(t, c, server.Limits{IdleTimeout: idle})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	read := func(what string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || strings.Contains(string(body), `"partial":true`) {
			t.Fatalf("%s: status %d, err %v, want a whole page: %s", what, resp.StatusCode, err, body)
		}
	}
	if _, err := io.WriteString(conn, resultsRequest); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the first request to be fanned out", func() bool { return c.Stats("experiments").InFlight == 1 })
	if _, err := io.WriteString(conn, resultsRequest); err != nil {
		t.Fatal(err)
	}
	read("first request")
	read("pipelined request")
	if _, err := io.WriteString(conn, resultsRequest); err != nil {
		t.Fatal(err)
	}
	read("keep-alive request")
	// Now idle: the gateway closes the connection after its idle timeout,
	// neither at once (a deadline left in the past) nor never (cleared).
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * idle))
	if n, err := br.ReadByte(); err == nil {
		t.Fatalf("read %q from an idle connection", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the gateway kept an idle connection open for %v, past its idle timeout %v", 20*idle, idle)
	}
	if waited := time.Since(start); waited < idle/2 {
		t.Errorf("the gateway closed an idle connection after %v, before its idle timeout %v", waited, idle)
	}
}

// TestHalfClosedClientIsNoBackendFault: a client that shuts down its
// sending side while its results page is fanned out has left; its request
// is counted as the client gone, not as a failure of the call it cut
// short: no bad-gateway error, no breaker fault (one would open it here),
// no answer blaming a backend. The next client is served.
func TestHalfClosedClientIsNoBackendFault(t *testing.T) {
	c := startMocks(t, mock.Options{Config: latencies(t, map[string]string{
		"experiments": "fixed:300ms", "results": "fixed:300ms", "layers": "fixed:20ms", "projects": "fixed:20ms",
	})})
	cfg := config.Default()
	cfg.Backends = config.Backends(c.Addrs())
	cfg.Breaker, cfg.BreakerFailures = true, 1
	gw, addr := assemblytest.Serve(t, cfg)
	conn := askResults(t, addr)
	poll.Until(t, 10*time.Second, "the request to reach the experiments backend", func() bool { return c.Stats("experiments").InFlight == 1 })
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	if strings.Contains(string(got), "502") || strings.Contains(string(got), "unreachable") {
		t.Errorf("the client that left was answered as if a backend failed: %q", got)
	}
	var metrics strings.Builder
	poll.Until(t, 10*time.Second, "the request to end", func() bool {
		metrics.Reset()
		gw.Server().Metrics().WritePrometheus(&metrics)
		return strings.Contains(metrics.String(), "fanout_requests_in_flight 0")
	})
	for _, want := range []string{
		`fanout_errors_total{kind="bad_gateway"} 0`,
		`fanout_errors_total{kind="client_gone"} 1`,
		`fanout_breaker_state{backend="experiments"} 0`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics.String(), "fanout_errors_total", "fanout_breaker_state"))
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(askResults(t, addr)), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the next client: %v, %v", resp, err)
	}
}

// askResults sends a results request on a new connection, closed when the
// test ends, whose reads time out after ten seconds.
func askResults(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, resultsRequest); err != nil {
		t.Fatal(err)
	}
	return conn.(*net.TCPConn)
}

// grepLines keeps the lines of text that contain any of substrs.
func grepLines(text string, substrs ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, s := range substrs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
