package transport

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends: the gateway's end, as a handler's RequestCtx, and the
// client's.
func tcpPair(t *testing.T) (*fasthttp.RequestCtx, *net.TCPConn) {
	return connPair(t, func(ln net.Listener) net.Listener { return ln })
}

// listenerPair is tcpPair with the gateway's end accepted by the
// gateway's listener, as the server's connections are.
func listenerPair(t *testing.T) (*fasthttp.RequestCtx, *net.TCPConn) {
	ctx, client := connPair(t, func(ln net.Listener) net.Listener { return NewListener(ln, 10, 0, 0, 0, nil) })
	if _, ok := ctx.Conn().(*limitedConn); !ok {
		t.Fatalf("the listener accepted a %T, not its own connection", ctx.Conn())
	}
	return ctx, client
}

// connPair is tcpPair with the gateway's end accepted through wrap's
// listener.
func connPair(t *testing.T, wrap func(net.Listener) net.Listener) (*fasthttp.RequestCtx, *net.TCPConn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := wrap(inner)
	defer ln.Close()
	client, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	var ctx fasthttp.RequestCtx
	ctx.Init2(server, nil, false)
	return &ctx, client.(*net.TCPConn)
}

// pairs are the two kinds of connection a watch handles: the gateway's
// listener's, which keep a slot of their own, and any other TCP
// connection, which takes one per watch.
var pairs = map[string]func(t *testing.T) (*fasthttp.RequestCtx, *net.TCPConn){
	"listener": listenerPair,
	"plain":    tcpPair,
}

// quiet is how long a test waits for a cancel that must not come: a
// wrong verdict would arrive within a few milliseconds.
const quiet = 300 * time.Millisecond

// TestClientWatchVerdicts: a watched client that closes, resets or shuts
// down its sending side cancels the request; one that sends bytes does not,
// and its bytes are left whole for the server to read; once the watch is
// stopped, nothing the client does cancels the request.
func TestClientWatchVerdicts(t *testing.T) {
	for kind, pair := range pairs {
		t.Run(kind, func(t *testing.T) { testClientWatchVerdicts(t, pair) })
	}
}

func testClientWatchVerdicts(t *testing.T, tcpPair func(t *testing.T) (*fasthttp.RequestCtx, *net.TCPConn)) {
	gone := map[string]func(c *net.TCPConn){
		"close":      func(c *net.TCPConn) { _ = c.Close() },
		"reset":      func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() },
		"half-close": func(c *net.TCPConn) { _ = c.CloseWrite() },
	}
	for name, leave := range gone {
		t.Run(name, func(t *testing.T) {
			ctx, client := tcpPair(t)
			c, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := WatchClient(ctx, cancel)
			if w == nil {
				t.Fatal("no watch on a TCP connection")
			}
			defer w.Stop()
			leave(client)
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatalf("the request was not cancelled after the client's %s", name)
			}
		})
	}
	t.Run("data", func(t *testing.T) {
		ctx, client := tcpPair(t)
		c, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := WatchClient(ctx, cancel)
		const next = "GET /next HTTP/1.1\r\n\r\n"
		if _, err := io.WriteString(client, next); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
			t.Fatal("a client that sent bytes was taken for gone")
		case <-time.After(quiet):
		}
		w.Stop()
		buf := make([]byte, len(next))
		_ = ctx.Conn().SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(ctx.Conn(), buf); err != nil || string(buf) != next {
			t.Fatalf("read %q, %v after the watch, want the client's %q", buf, err, next)
		}
	})
	// The next request on a keep-alive connection is watched as the first
	// was, and a client that went away between the two requests is found
	// gone by the second's watch at once.
	t.Run("next request", func(t *testing.T) {
		ctx, client := tcpPair(t)
		WatchClient(ctx, func() {}).Stop()
		c, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := WatchClient(ctx, cancel)
		defer w.Stop()
		_ = client.Close()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the second request on a connection was not cancelled after the client closed")
		}
	})
	t.Run("gone between requests", func(t *testing.T) {
		ctx, client := tcpPair(t)
		first, cancelFirst := context.WithCancel(context.Background())
		defer cancelFirst()
		WatchClient(ctx, cancelFirst).Stop()
		_ = client.Close()
		time.Sleep(quiet)
		if first.Err() != nil {
			t.Fatal("a stopped watch cancelled the request")
		}
		c, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := WatchClient(ctx, cancel)
		defer w.Stop()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a request whose client left before it was watched was not cancelled")
		}
	})
	t.Run("stopped", func(t *testing.T) {
		ctx, client := tcpPair(t)
		c, cancel := context.WithCancel(context.Background())
		defer cancel()
		WatchClient(ctx, cancel).Stop()
		_ = client.SetLinger(0)
		_ = client.Close()
		select {
		case <-c.Done():
			t.Fatal("a stopped watch cancelled the request")
		case <-time.After(quiet):
		}
	})
}

// TestClientWatchOneCallPerConnection: on a connection of the gateway's
// listener, only the first watch makes a system call, and the
// connection's close frees its slot.
func TestClientWatchOneCallPerConnection(t *testing.T) {
	ctx, client := listenerPair(t)
	before := clientWatcher.ctls.Load()
	for range 20 {
		c, cancel := context.WithCancel(context.Background())
		w := WatchClient(ctx, cancel)
		if w == nil {
			t.Fatal("no watch on a connection of the listener")
		}
		w.Stop()
		if c.Err() != nil {
			t.Fatal("a watch of a client still there cancelled its request")
		}
		cancel()
	}
	if n := clientWatcher.ctls.Load() - before; n != 1 {
		t.Errorf("20 watches of one connection made %d epoll_ctl calls, want 1", n)
	}
	// That a later request still sees its client leave is
	// TestClientWatchVerdicts' "next request", on both kinds.
	_ = client.Close()
	lc := ctx.Conn().(*limitedConn)
	tok := unpackToken(lc.watch.Load())
	_ = lc.Close()
	if lc.watch.Load() != watchClosed {
		t.Error("a closed connection still names a slot")
	}
	if clientWatcher.arm(tok, func() {}) {
		t.Error("the slot of a closed connection can still be armed")
	}
	if WatchClient(ctx, func() {}) != nil {
		t.Error("a closed connection was watched")
	}
}

// TestClientWatchNoGoroutine: watching the clients of many requests at
// once starts no goroutine per request, whose start, park and wake cost
// the gateway a few per cent of its CPU at a few hundred pages a second.
func TestClientWatchNoGoroutine(t *testing.T) {
	const n = 64
	ctxs := make([]*fasthttp.RequestCtx, n)
	for i := range ctxs {
		ctxs[i], _ = tcpPair(t)
	}
	// One watch first, so that the watcher's own goroutine is counted in
	// the baseline.
	WatchClient(ctxs[0], func() {}).Stop()
	before := runtime.NumGoroutine()
	ws := make([]*ClientWatch, n)
	for i, ctx := range ctxs {
		if ws[i] = WatchClient(ctx, func() {}); ws[i] == nil {
			t.Fatal("no watch on a TCP connection")
		}
	}
	during := runtime.NumGoroutine()
	for _, w := range ws {
		w.Stop()
	}
	if grew := during - before; grew > n/4 {
		t.Errorf("watching %d clients started %d goroutines, want none per client", n, grew)
	}
}

// BenchmarkClientWatch is the cost of watching one fanned-out request's
// client, from the start of the watch to its end, on a connection that
// stays quiet.
func BenchmarkClientWatch(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	var ctx fasthttp.RequestCtx
	ctx.Init2(server, nil, false)
	cancel := func() {}
	b.ReportAllocs()
	for b.Loop() {
		WatchClient(&ctx, cancel).Stop()
	}
}
