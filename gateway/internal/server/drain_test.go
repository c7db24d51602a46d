package server_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDrain: once the server drains, /readyz answers 503 draining, and a
// request on a kept-alive connection is still served, with Connection:
// close, after which the gateway closes that connection, so that the
// client's next request needs a new one.
func TestDrain(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	if r := g.admin(t, "/readyz"); r.status != fasthttp.StatusOK {
		t.Fatalf("/readyz before the drain: %d %s, want 200", r.status, r.body)
	}
	c, err := g.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := bufio.NewReader(c)
	send := func() *fasthttp.Response {
		t.Helper()
		if _, err := io.WriteString(c, "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp := &fasthttp.Response{}
		if err := resp.Read(in); err != nil {
			t.Fatalf("read the answer: %v", err)
		}
		return resp
	}
	if r := send(); r.StatusCode() != fasthttp.StatusOK || r.ConnectionClose() {
		t.Fatalf("before the drain: status %d, Connection: close %v; want 200 on a kept-alive connection", r.StatusCode(), r.ConnectionClose())
	}

	g.srv.Drain()
	if r := g.admin(t, "/readyz"); r.status != fasthttp.StatusServiceUnavailable || !strings.Contains(string(r.body), "draining") {
		t.Errorf("/readyz while draining: %d %s, want 503 draining", r.status, r.body)
	}
	if r := send(); r.StatusCode() != fasthttp.StatusOK || !r.ConnectionClose() {
		t.Errorf("while draining: status %d, Connection: close %v; want 200 with Connection: close", r.StatusCode(), r.ConnectionClose())
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := in.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer while draining: %v, want the connection closed (EOF)", err)
	}
}
