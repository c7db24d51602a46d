package transport

import (
	"strings"
	"testing"
)

// FuzzFrontSplit: what front decides about the bytes of a connection does
// not depend on how the reads split them, so a client cannot slip a bare
// LF or a version past it by sending a head in pieces.
func FuzzFrontSplit(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n"), 30)
	f.Add([]byte("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n\n\n\n\n\nGET / HTTP/2.0\r\n\r\n"), 40)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\n\n\n\n\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\nHost: x\n\n"), 52)
	f.Add([]byte("\r\n\r\nGET / HTTP/9.9\r\n\r\n"), 3)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;"+strings.Repeat("e", 100)+"\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\nHost: x\n\n"), 60)
	f.Add([]byte("POST /a HTTP/1.1\r\nContent-Length:\r\n 3\r\n\r\nabcGET / HTTP/1.1\nHost: x\n\n"), 35)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		if len(data) == 0 {
			return
		}
		split = (split%len(data) + len(data)) % len(data)
		whole := newFront(64)
		p1, at1 := whole.inspect(data)
		parts := newFront(64)
		p2, at2 := parts.inspect(data[:split])
		if p2 == nil {
			p2, at2 = parts.inspect(data[split:])
			at2 += split
		}
		switch {
		case (p1 == nil) != (p2 == nil):
			t.Fatalf("%q: whole refuses %v, split at %d refuses %v", data, p1, split, p2)
		case p1 != nil && (p1.Status != p2.Status || p1.Detail != p2.Detail):
			t.Fatalf("%q: whole %d %q, split at %d %d %q", data, p1.Status, p1.Detail, split, p2.Status, p2.Detail)
		case p1 != nil && at1 > 0 && at2 != at1 && at2 > split:
			// Where the refused head starts, when it starts in the second read.
			t.Fatalf("%q: the refused head starts at %d whole, %d split at %d", data, at1, at2, split)
		case p1 == nil && whole.state != parts.state:
			t.Fatalf("%q: state %d whole, %d split at %d", data, whole.state, parts.state, split)
		}
	})
}

// BenchmarkFront is the inspection of a results request's head as a load
// generator sends it.
func BenchmarkFront(b *testing.B) {
	head := []byte("GET /v2/experiments/123/results HTTP/1.1\r\nHost: 127.0.0.1:41234\r\nUser-Agent: Go-http-client/1.1\r\nAuthorization: Bearer cpu-bench-secret\r\nAccept-Encoding: identity\r\n\r\n")
	f := newFront(8 << 10)
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		if p, _ := f.inspect(head); p != nil {
			b.Fatal(p.Detail)
		}
	}
}
