package server

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkResultsServedTCP is BenchmarkResultsServed over a loopback TCP
// connection, where the gateway watches for the client going away (the
// in-memory listener has no socket to watch): the difference between the
// two, before and after the watch, is its cost.
func BenchmarkResultsServedTCP(b *testing.B) {
	s, _ := benchServer(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	client := &fasthttp.HostClient{Addr: ln.Addr().String()}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + ln.Addr().String() + "/v2/experiments/42/results")
	b.ReportAllocs()
	for b.Loop() {
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatal(err, resp.StatusCode())
		}
	}
}
