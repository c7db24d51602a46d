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

	"github.com/valyala/fasthttp"
)

// TestHeadMirrorsGet asks every GET route of the document with HEAD: the
// answer has GET's status and headers and no body (RFC 9110, 9.3.2).
func TestHeadMirrorsGet(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	for _, path := range []string{
		"/v2/experiments/42",
		"/v2/experiments/42/results",
		"/v2/experiments?project_id=3",
		"/v2/projects/3",
		"/v2/experiments/abc", // a 400 is mirrored as well
		"/openapi.yaml",
	} {
		t.Run(path, func(t *testing.T) {
			get, err := exchange(t, g.addr, []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"\r\n", path)), false, false)
			if err != nil {
				t.Fatal(err)
			}
			raw := rawExchange(t, g.addr, fmt.Sprintf("HEAD %s HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Connection: close\r\n\r\n", path))
			var head fasthttp.Response
			head.SkipBody = true
			if err := head.Read(bufioReader(raw)); err != nil {
				t.Fatalf("HEAD: %v: %q", err, raw)
			}
			if head.StatusCode() != get.status || string(head.Header.ContentType()) != get.contentType {
				t.Errorf("HEAD: %d %q, GET: %d %q", head.StatusCode(), head.Header.ContentType(), get.status, get.contentType)
			}
			if n := head.Header.ContentLength(); n != len(get.body) {
				t.Errorf("HEAD Content-Length %d, GET body %d bytes", n, len(get.body))
			}
			if _, after, _ := bytes.Cut(raw, []byte("\r\n\r\n")); len(after) > 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(after))
			}
		})
	}
}

// rawExchange sends req on a new connection and returns every byte the
// server sends until it closes the connection or 5 s pass.
func rawExchange(t testing.TB, addr, req string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() { _, _ = io.WriteString(c, req) }()
	b, _ := io.ReadAll(c)
	return b
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// TestFrontFollowsFraming sends several requests on one connection, some
// pipelined: bodies that hold bare LFs, framed by length or chunked, are
// served, and a bare LF in the head of a later request is refused, so the
// check of line ends follows where each request head starts.
func TestFrontFollowsFraming(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	body := "{\"project_id\":\"1\",\n\"name\":\"x\"}\n"
	byLength := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	chunked := fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n3\r\n\n\n\n\r\n0\r\n\r\n", len(body), body)
	smuggling := "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "X-A: 1\nX-B: 2\r\n\r\n"

	c := dialFrom(t, "127.0.0.1", g.addr)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	read := func() int {
		t.Helper()
		var resp fasthttp.Response
		if err := resp.Read(br); err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return resp.StatusCode()
	}
	// One at a time, then pipelined in one write.
	for _, req := range []string{byLength, chunked, get("/v2/experiments/42")} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if status := read(); status >= 300 {
			t.Fatalf("status %d for %q", status, req)
		}
	}
	if _, err := io.WriteString(c, chunked+byLength+smuggling); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{201, 201, 400} {
		if status := read(); status != want {
			t.Errorf("pipelined: status %d, want %d", status, want)
		}
	}
}

// TestFrontCountsOnce: a request refused in front of the parser is counted
// once as an invalid request, though fasthttp, seeing its input end, reports
// an error of its own.
func TestFrontCountsOnce(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	invalid := func() string {
		var b bytes.Buffer
		g.srv.Metrics().WritePrometheus(&b)
		return grep(b.String(), `fanout_errors_total{kind="invalid_request"}`)
	}
	before := invalid()
	// Whole, and in two reads, so that fasthttp holds part of the head
	// when its input ends.
	for _, parts := range [][]string{
		{"GET /v2/experiments/42 HTTP/1.1\nHost: x\n\n"},
		{"GET /v2/experiments/42 HTTP/1.1\r\n", "Host: x\r\nX-A: 1\nX-B: 2\r\n\r\n"},
	} {
		c := dialFrom(t, "127.0.0.1", g.addr)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, p := range parts {
			if _, err := io.WriteString(c, p); err != nil {
				t.Fatal(err)
			}
			// A pause, not a wait for the server: it makes two reads of
			// the parts likely, and the count asserted below holds
			// whether the parts are read apart or together.
			time.Sleep(50 * time.Millisecond)
		}
		var resp fasthttp.Response
		if err := resp.Read(bufio.NewReader(c)); err != nil || resp.StatusCode() != fasthttp.StatusBadRequest {
			t.Fatalf("%q: status %d, error %v", parts, resp.StatusCode(), err)
		}
	}
	if after, want := invalid(), strings.Replace(before, "} 0", "} 2", 1); after != want {
		t.Errorf("after two refusals: %s, want %s", after, want)
	}
}
