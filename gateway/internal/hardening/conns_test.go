package hardening

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"

	"github.com/valyala/fasthttp"
)

// keepAlive is a client connection that has been served once and stays
// open, idle between requests.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func openKeepAlive(t testing.TB, addr string) *keepAlive {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	k := &keepAlive{c: c, br: bufio.NewReader(c)}
	if status, err := k.get("/v2/experiments/42"); err != nil || status != fasthttp.StatusOK {
		t.Fatalf("keep-alive connection: status %d, error %v", status, err)
	}
	return k
}

func (k *keepAlive) get(path string) (int, error) {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.c, get(path)); err != nil {
		return 0, err
	}
	var resp fasthttp.Response
	if err := resp.Read(k.br); err != nil {
		return 0, err
	}
	return resp.StatusCode(), nil
}

// closed reports whether the server has closed the connection, waiting up
// to a second for it.
func (k *keepAlive) closed() bool {
	_ = k.c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := k.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || (err != nil && !isTimeout(err))
}

// openIdlePair opens two keep-alive connections that are idle in that
// order. The server marks a connection idle just after it answers, so each
// is awaited in its gauge before the next opens: the order of the idle
// connections is then the test's.
func openIdlePair(t testing.TB, g *gateway) (first, second *keepAlive) {
	t.Helper()
	idle := func(n int) func() bool {
		return func() bool { return g.gauge("fanout_client_connections_idle") == n }
	}
	first = openKeepAlive(t, g.addr)
	poll.Until(t, 5*time.Second, "one idle connection", idle(1))
	second = openKeepAlive(t, g.addr)
	poll.Until(t, 5*time.Second, "two idle connections", idle(2))
	return first, second
}

// checkIdleGivesWay connects as who, a client beyond the limit, and checks
// that it is served, that the connection first, idle the longest, was
// closed to make room, and that second, idle too, is still served.
func checkIdleGivesWay(t testing.TB, g *gateway, first, second *keepAlive, who string) {
	t.Helper()
	a, err := exchange(t, g.addr, []byte("GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Connection: close\r\n\r\n"), false, false)
	if err != nil || a.status != fasthttp.StatusOK {
		t.Fatalf("%s: status %d, error %v: %.200s", who, a.status, err, a.body)
	}
	if !first.closed() {
		t.Error("the connection idle the longest was not closed to make room")
	}
	if status, err := second.get("/v2/experiments/42"); err != nil || status != fasthttp.StatusOK {
		t.Errorf("the other idle connection: status %d, error %v", status, err)
	}
}

func isTimeout(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// TestIdleConnectionsGiveWay: when idle keep-alive connections hold every
// slot, a new client is served in the slot of the connection idle the
// longest, which is closed, rather than refused until the idle timeout;
// connections in the middle of a request are never closed for it, and
// once no connection is idle a new one is refused as before.
func TestIdleConnectionsGiveWay(t *testing.T) {
	const slots = 3
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{MaxClientConns: slots, IdleTimeout: time.Minute}})
	first, second := openIdlePair(t, g)
	// The third slot: a request whose headers are still arriving.
	busy := dialFrom(t, "127.0.0.1", g.addr)
	if _, err := io.WriteString(busy, "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader); err != nil {
		t.Fatal(err)
	}

	checkIdleGivesWay(t, g, first, second, "a new client while idle connections hold every slot")
	// The busy connection finishes its request on the same connection.
	if _, err := io.WriteString(busy, "\r\n"); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	_ = busy.SetDeadline(time.Now().Add(5 * time.Second))
	if err := resp.Read(bufio.NewReader(busy)); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		t.Errorf("the busy connection: status %d, error %v", resp.StatusCode(), err)
	}
	_ = busy.SetDeadline(time.Time{})

	// Hold every slot with requests in progress: nothing gives way.
	for _, c := range []net.Conn{second.c, busy} {
		if _, err := io.WriteString(c, "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader); err != nil {
			t.Fatal(err)
		}
	}
	// Both must be seen busy before the third connects: one still counted
	// idle would rightly give way to it.
	poll.Until(t, 5*time.Second, "the two partial requests read", func() bool {
		return g.gauge("fanout_client_connections_idle") == 0 && g.openConns() == slots-1
	})
	third := dialFrom(t, "127.0.0.1", g.addr)
	if _, err := io.WriteString(third, "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the three partial requests read", func() bool {
		return g.gauge("fanout_client_connections_idle") == 0 && g.openConns() == slots
	})
	a, err := exchange(t, g.addr, []byte(get("/v2/experiments/42")), false, false)
	if err != nil {
		t.Fatalf("a client beyond the limit: %v", err)
	}
	checkProblem(t, a, fasthttp.StatusServiceUnavailable, problem.TypeUnavailable)
}

// TestIdleConnectionsGiveWayPerIP: an address whose idle keep-alive
// connections hold its whole share is served on a new connection in the
// slot of its longest idle one, rather than refused with 429.
func TestIdleConnectionsGiveWayPerIP(t *testing.T) {
	const perIP = 2
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{MaxConnsPerIP: perIP, IdleTimeout: time.Minute}})
	first, second := openIdlePair(t, g)
	checkIdleGivesWay(t, g, first, second, "a new connection from an address whose idle connections hold its share")
}
