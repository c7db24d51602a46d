package hardening

import (
	"bufio"
	"errors"
	"fmt"
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

// checkGivesWay connects as who, a client beyond the limit, and checks
// that it is served, that the connection first (idle the longest, or
// silent) was closed to make room, and that second, idle, is still served.
func checkGivesWay(t testing.TB, g *gateway, first, second *keepAlive, who string) {
	t.Helper()
	a, err := exchange(t, g.addr, []byte("GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Connection: close\r\n\r\n"), false, false)
	if err != nil || a.status != fasthttp.StatusOK {
		t.Fatalf("%s: status %d, error %v: %.200s", who, a.status, err, a.body)
	}
	if !first.closed() {
		t.Error("the connection that should give way was not closed to make room")
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
	// Until its first byte is read, it would rightly give way as silent;
	// and until it is accepted it is not counted at all, silent or not, so
	// the wait is for it to hold its slot and no longer be silent.
	poll.Until(t, 5*time.Second, "the partial request read", func() bool {
		return g.openConns() == slots && g.gauge("fanout_client_connections_silent") == 0
	})

	checkGivesWay(t, g, first, second, "a new client while idle connections hold every slot")
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
	checkGivesWay(t, g, first, second, "a new connection from an address whose idle connections hold its share")
}

// openSilent opens a connection that sends nothing, and waits until the
// gateway counts it silent.
func openSilent(t testing.TB, g *gateway, n int) *keepAlive {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", g.addr)
	poll.Until(t, 5*time.Second, "a silent connection", func() bool {
		return g.gauge("fanout_client_connections_silent") == n
	})
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// TestSilentConnectionsGiveWayFirst: when an idle keep-alive connection
// and a connection that never sent a byte hold every slot, a new client
// is served in the silent one's slot, though the idle one waited longer:
// a client that opens connections it does not use pays for them first.
func TestSilentConnectionsGiveWayFirst(t *testing.T) {
	for _, c := range []struct {
		name   string
		limits server.Limits
	}{
		{"every slot", server.Limits{MaxClientConns: 2}},
		{"the address's share", server.Limits{MaxConnsPerIP: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.limits.IdleTimeout, c.limits.HeaderTimeout, c.limits.ReadTimeout = time.Minute, time.Minute, time.Minute
			g := startGateway(t, startCluster(t), gatewayOptions{limits: c.limits})
			idle := openKeepAlive(t, g.addr)
			poll.Until(t, 5*time.Second, "one idle connection", func() bool {
				return g.gauge("fanout_client_connections_idle") == 1
			})
			silent := openSilent(t, g, 1)
			checkGivesWay(t, g, silent, idle, "a new client while a silent and an idle connection hold every slot")
		})
	}
}

// TestSilentConnectionsAreClosed: a connection that sends nothing, or only
// part of a request head, is closed once the header timeout has passed,
// long before the read timeout; a request whose head arrived in time has
// the rest of the read timeout for its body.
func TestSilentConnectionsAreClosed(t *testing.T) {
	const readTimeout = 20 * shortTimeout
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{HeaderTimeout: shortTimeout, ReadTimeout: readTimeout}})
	for _, c := range []struct{ name, sent string }{
		{"silent", ""},
		{"part of a head", "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			conn := dialFrom(t, "127.0.0.1", g.addr)
			if _, err := io.WriteString(conn, c.sent); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(start.Add(readTimeout))
			_, err := io.Copy(io.Discard, conn)
			held := time.Since(start)
			if err != nil {
				t.Fatalf("the connection was not closed within the read timeout %v: %v", readTimeout, err)
			}
			if held < shortTimeout || held > readTimeout/2 {
				t.Errorf("closed after %v; want the header timeout %v, well before the read timeout %v", held, shortTimeout, readTimeout)
			}
		})
	}
	// On a keep-alive connection, the wait for the next request is the
	// idle timeout's; the header timeout starts at its first byte.
	t.Run("keep-alive", func(t *testing.T) {
		k := openKeepAlive(t, g.addr)
		time.Sleep(3 * shortTimeout) // idle, longer than the header timeout
		if status, err := k.get("/v2/experiments/42"); err != nil || status != fasthttp.StatusOK {
			t.Fatalf("a request after an idle wait longer than the header timeout: status %d, error %v", status, err)
		}
		start := time.Now()
		if _, err := io.WriteString(k.c, "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = k.c.SetReadDeadline(start.Add(readTimeout))
		_, err := io.Copy(io.Discard, k.br)
		if held := time.Since(start); err != nil || held > readTimeout/2 {
			t.Errorf("part of a head on a keep-alive connection held it %v (%v); want the header timeout %v", held, err, shortTimeout)
		}
	})
	t.Run("a body after its head", func(t *testing.T) {
		conn := dialFrom(t, "127.0.0.1", g.addr)
		head := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(newExperiment))
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * shortTimeout) // a slow client, not a wait for the server
		if _, err := io.WriteString(conn, newExperiment); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(conn)); err != nil || resp.StatusCode() != fasthttp.StatusCreated {
			t.Errorf("a body sent after the header timeout, within the read timeout: status %d, error %v: %s", resp.StatusCode(), err, resp.Body())
		}
	})
}
