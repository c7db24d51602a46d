package hardening

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"

	"github.com/valyala/fasthttp"
)

// dialFrom opens a connection to addr from the loopback address from, so
// that a test can play several client addresses.
func dialFrom(t testing.TB, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const newExperiment = `{"project_id":"1","name":"x"}`

// createFrom posts a new experiment from the address from and returns the
// answer.
func createFrom(t testing.TB, from, addr string) answer {
	t.Helper()
	c := dialFrom(t, from, addr)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, post("application/json", newExperiment)); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		t.Fatalf("no answer from %s: %v", from, err)
	}
	return answer{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()), body: append([]byte(nil), resp.Body()...)}
}

// holdBody starts a POST from the address from whose body, of size bytes,
// is sent only in part, so that the gateway holds its share of the body
// budget until the test ends.
func holdBody(t testing.TB, from, addr string, size int) net.Conn {
	t.Helper()
	c := dialFrom(t, from, addr)
	head := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	// More than fasthttp reads before the handler runs, less than all.
	if _, err := io.WriteString(c, head+strings.Repeat(" ", 9<<10)); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBodyBudget fills the memory budget for request bodies with bodies
// that arrive slowly: a further body from the same address is refused at
// once with 429, one from elsewhere with 503 once the whole budget is
// spent, while bodies within the budget and requests without a body keep
// being served, and the budget comes back when the slow bodies go.
func TestBodyBudget(t *testing.T) {
	const maxBody = 64 << 10
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{
		MaxRequestBodySize: maxBody, MaxBodyBytesPerIP: 2 * maxBody, MaxBodyBytesInFlight: 4 * maxBody,
	}})
	inFlight := func() string {
		var b bytes.Buffer
		g.srv.Metrics().WritePrometheus(&b)
		return grep(b.String(), "fanout_request_body_bytes_in_flight ")
	}
	want := func(n int) string { return fmt.Sprintf("fanout_request_body_bytes_in_flight %d", n) }

	if a := createFrom(t, "127.0.0.2", g.addr); a.status != fasthttp.StatusCreated {
		t.Fatalf("a first body: status %d: %s", a.status, a.body)
	}
	held := []net.Conn{holdBody(t, "127.0.0.2", g.addr, maxBody), holdBody(t, "127.0.0.2", g.addr, maxBody)}
	poll.Until(t, 5*time.Second, "two held bodies", func() bool { return inFlight() == want(2*maxBody) })
	p := checkProblem(t, createFrom(t, "127.0.0.2", g.addr), fasthttp.StatusTooManyRequests, problem.TypeTooManyBodyBytes)
	t.Logf("same address: %s", p.Detail)
	if a := createFrom(t, "127.0.0.3", g.addr); a.status != fasthttp.StatusCreated {
		t.Errorf("another address within the budget: status %d: %s", a.status, a.body)
	}

	held = append(held, holdBody(t, "127.0.0.3", g.addr, maxBody), holdBody(t, "127.0.0.4", g.addr, maxBody))
	poll.Until(t, 5*time.Second, "four held bodies", func() bool { return inFlight() == want(4*maxBody) })
	p = checkProblem(t, createFrom(t, "127.0.0.5", g.addr), fasthttp.StatusServiceUnavailable, problem.TypeTooManyBodyBytes)
	t.Logf("budget spent: %s", p.Detail)
	// A client that expects 100-continue learns it before sending its body.
	expect := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(newExperiment))
	a, err := exchange(t, g.addr, []byte(expect), false, false)
	if err != nil {
		t.Fatalf("expecting 100-continue while the budget is spent: %v", err)
	}
	checkProblem(t, a, fasthttp.StatusServiceUnavailable, problem.TypeTooManyBodyBytes)
	status, body, err := authGet(nil, "http://"+g.addr+"/v2/experiments/42/results", 5*time.Second)
	if err != nil || status != fasthttp.StatusOK {
		t.Errorf("a request without a body while the budget is spent: %d %v: %.200s", status, err, body)
	}

	for _, c := range held {
		c.Close()
	}
	poll.Until(t, 5*time.Second, "the held bodies' budget released", func() bool { return inFlight() == want(0) })
	if a := createFrom(t, "127.0.0.5", g.addr); a.status != fasthttp.StatusCreated {
		t.Errorf("a body once the budget is back: status %d: %s", a.status, a.body)
	}
}

// TestExpectContinue sends requests that expect 100-continue: the gateway
// says 100 only to headers that pass the checks that need no body, and
// refuses the others with their problem before the body is sent.
func TestExpectContinue(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	expectHead := func(path, contentType string, length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
			path, contentType, length)
	}
	for _, c := range []struct {
		name, head string
		status     int
		typ        string
	}{
		{"wrong media type", expectHead("/v2/experiments", "text/plain", len(newExperiment)), 415, mediaType},
		{"too large", expectHead("/v2/experiments", "application/json", 10<<20), 413, tooLarge},
		{"no such route", expectHead("/v2/nothing", "application/json", len(newExperiment)), 404, notFound},
		{"gzip", strings.Replace(expectHead("/v2/experiments", "application/json", len(newExperiment)), "\r\n\r\n", "\r\nContent-Encoding: gzip\r\n\r\n", 1), 415, mediaType},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The body is never sent: an answer must come from the headers.
			a, err := exchange(t, g.addr, []byte(c.head), false, false)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			checkProblem(t, a, c.status, c.typ)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		conn := dialFrom(t, "127.0.0.1", g.addr)
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, expectHead("/v2/experiments", "application/json", len(newExperiment))); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q (%v), want 100 Continue", line, err)
		}
		if _, err := br.ReadString('\n'); err != nil { // the empty line after it
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, newExperiment); err != nil {
			t.Fatal(err)
		}
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil || resp.StatusCode() != fasthttp.StatusCreated {
			t.Fatalf("status %d (%v): %s", resp.StatusCode(), err, resp.Body())
		}
	})
}

// TestEarlyRefusalLingers sends a body over the limit whole before reading:
// the gateway refuses it from its headers, yet the client sees the 413,
// not a reset, because the gateway reads and discards the body before it
// closes.
func TestEarlyRefusalLingers(t *testing.T) {
	const maxBody = 64 << 10
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{MaxRequestBodySize: maxBody}})
	for _, c := range []struct {
		name        string
		contentType string
		status      int
		typ         string
	}{
		{"too large", "application/json", 413, tooLarge},
		{"wrong media type", "text/plain", 415, mediaType},
	} {
		t.Run(c.name, func(t *testing.T) {
			size := 4 * maxBody
			if c.status != 413 {
				size = maxBody
			}
			conn := dialFrom(t, "127.0.0.1", g.addr)
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			head := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: %s\r\nContent-Length: %d\r\n\r\n", c.contentType, size)
			// Written whole, in pieces, before a byte is read.
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			chunk := strings.Repeat("x", 8<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := io.WriteString(conn, chunk); err != nil {
					t.Fatalf("writing the body after %d bytes: %v", sent, err)
				}
				time.Sleep(time.Millisecond)
			}
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(conn)); err != nil {
				t.Fatalf("no answer: %v", err)
			}
			checkProblem(t, answer{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()), body: resp.Body()}, c.status, c.typ)
		})
	}
}
