package backend_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/poll"
)

// rawClients points one backend, "b", at a raw backend answering with answer.
func rawClients(t *testing.T, opts backend.Options, answer backendtest.RawAnswer) (*backend.Clients, *backendtest.Raw) {
	t.Helper()
	raw, err := backendtest.NewRaw(answer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	c, err := backend.New(map[string]backend.Backend{"b": {Addr: raw.Addr()}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, raw
}

// pathResponse is a 200 response whose body is the request's path.
func pathResponse(req backendtest.RawRequest) []byte {
	return backendtest.RawResponse(200, fmt.Sprintf("%q", req.Path()))
}

// echoPath answers each request with its path as the body.
func echoPath(conn net.Conn, req backendtest.RawRequest) bool {
	_, err := conn.Write(pathResponse(req))
	return err == nil
}

// TestSendsPathAsBuilt: the request line carries exactly the path the
// gateway built; fasthttp's client would otherwise decode %2F and remove dot
// segments, turning /layers/1%2F..%2F..%2Fadmin into /admin.
func TestSendsPathAsBuilt(t *testing.T) {
	c, raw := rawClients(t, backend.Options{}, echoPath)
	for _, path := range []string{
		"/layers/1%2F..%2F..%2F_admin%2Fconfig",
		"/layers/a/../b",
		"/layers/./x//y",
		"/projects/%2E%2E/settings?x=%2F..",
	} {
		ex := c.Exchange()
		_, _, err := ex.Do(context.Background(), "b", "GET", path)
		ex.Release()
		if err != nil {
			t.Fatal(err)
		}
		reqs := raw.Requests()
		if got := reqs[len(reqs)-1].Line; got != "GET "+path+" HTTP/1.1" {
			t.Errorf("request line %q, want the path %q as built", got, path)
		}
	}
}

// TestUnsolicitedResponse: a backend that answers every request twice must
// never have its second answer taken for the answer to a later request. The
// connection it arrived on is closed instead of reused.
func TestUnsolicitedResponse(t *testing.T) {
	var seconds atomic.Int64 // second answers written
	twice := backendtest.AnswerTwice(pathResponse, &seconds)
	c, raw := rawClients(t, backend.Options{MaxConns: 1}, twice)
	wrong := 0
	const n = 40
	for i := range n {
		path := fmt.Sprintf("/experiments/%d", i+1)
		ex := c.Exchange()
		status, body, err := ex.Do(context.Background(), "b", "GET", path)
		if err == nil && string(body) != fmt.Sprintf("%q", path) {
			wrong++
			t.Errorf("asked %s (status %d), got the body %s", path, status, body)
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		ex.Release()
		// Let the second answer arrive before the next request, as it does
		// when a client comes a little later (on loopback, written is
		// arrived).
		poll.Until(t, 5*time.Second, "the backend's answer", func() bool { return seconds.Load() == int64(i+1) })
	}
	if wrong > 0 {
		t.Fatalf("%d of %d requests got another request's body", wrong, n)
	}
	if got := len(raw.Requests()); got != n {
		t.Errorf("backend received %d requests, want %d", got, n)
	}
}

// TestEveryPooledConnectionSpokenOn: a call that finds several pooled
// connections spoken on skips them all and is answered on a fresh one,
// whatever its method: nothing was written on the ones it skipped.
func TestEveryPooledConnectionSpokenOn(t *testing.T) {
	var seconds atomic.Int64
	hold := make(chan struct{})
	twice := backendtest.AnswerTwice(func(req backendtest.RawRequest) []byte {
		if req.Path() == "/warm" {
			<-hold // keep all four connections busy at once
		}
		return pathResponse(req)
	}, &seconds)
	c, raw := rawClients(t, backend.Options{MaxConns: 4}, twice)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex := c.Exchange()
			defer ex.Release()
			if _, _, err := ex.Do(context.Background(), "b", "GET", "/warm"); err != nil {
				t.Error(err)
			}
		}()
	}
	poll.Until(t, 5*time.Second, "four requests at the backend", func() bool { return len(raw.Requests()) == 4 })
	close(hold)
	wg.Wait()
	poll.Until(t, 5*time.Second, "four answers", func() bool { return seconds.Load() == 4 })
	ex := c.Exchange()
	defer ex.Release()
	_, body, err := ex.DoBody(context.Background(), "b", "POST", "/experiments", "application/json", []byte(`{}`))
	if err != nil || string(body) != `"/experiments"` {
		t.Fatalf("error %v, body %s; want the answer to this request", err, body)
	}
}

// TestWaitForConnectionIsUnavailable: a call that waits for a free
// connection until its deadline was never sent: it is ErrUnavailable (the
// client may retry), not ErrTimeout.
func TestWaitForConnectionIsUnavailable(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	hang := func(conn net.Conn, req backendtest.RawRequest) bool {
		<-release
		return echoPath(conn, req)
	}
	c, raw := rawClients(t, backend.Options{MaxConns: 1, MaxConnWaitTimeout: 5 * time.Second}, hang)
	t.Cleanup(func() { once.Do(func() { close(release) }) })

	busy := make(chan error, 1)
	go func() {
		ex := c.Exchange()
		defer ex.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := ex.Do(ctx, "b", "GET", "/busy")
		busy <- err
	}()
	poll.Until(t, 5*time.Second, "one request at the backend", func() bool { return len(raw.Requests()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ex := c.Exchange()
	_, _, err := ex.Do(ctx, "b", "GET", "/waiting")
	ex.Release()
	if !errors.Is(err, backend.ErrUnavailable) || errors.Is(err, backend.ErrTimeout) || backend.KindOf(err) != backend.KindUnavailable {
		t.Fatalf("error %v (kind %q), want ErrUnavailable", err, backend.KindOf(err))
	}
	once.Do(func() { close(release) })
	if err := <-busy; err != nil {
		t.Fatalf("the call holding the connection: %v", err)
	}
	if got := len(raw.Requests()); got != 1 {
		t.Errorf("backend received %d requests, want 1: the waiting call must not be sent", got)
	}
}

// TestDripFeedIsTimeout: a body that arrives too slowly to finish before the
// deadline is a timeout, as a backend that sends nothing is.
func TestDripFeedIsTimeout(t *testing.T) {
	c, _ := rawClients(t, backend.Options{}, backendtest.DripFeed(1000, 10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ex := c.Exchange()
	defer ex.Release()
	_, _, err := ex.Do(ctx, "b", "GET", "/results/1")
	if !errors.Is(err, backend.ErrTimeout) || backend.KindOf(err) != backend.KindTimeout {
		t.Fatalf("error %v (kind %q), want a timeout", err, backend.KindOf(err))
	}
}

// TestKinds: each way a call fails has one stable kind.
func TestKinds(t *testing.T) {
	big := func(conn net.Conn, req backendtest.RawRequest) bool {
		_, err := conn.Write(backendtest.RawResponse(200, `"`+strings.Repeat("x", 2000)+`"`))
		return err == nil
	}
	garbage := func(conn net.Conn, req backendtest.RawRequest) bool {
		_, _ = conn.Write([]byte("HTTP/1.1 two hundred\r\n\r\n"))
		return false
	}
	for _, tc := range []struct {
		name   string
		answer backendtest.RawAnswer
		want   backend.Kind
	}{
		{"too large", big, backend.KindTooLarge},
		{"not HTTP", garbage, backend.KindMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := rawClients(t, backend.Options{MaxResponseBodySize: 1000}, tc.answer)
			ex := c.Exchange()
			defer ex.Release()
			_, _, err := ex.Do(context.Background(), "b", "GET", "/x")
			if got := backend.KindOf(err); got != tc.want {
				t.Fatalf("error %v: kind %q, want %q", err, got, tc.want)
			}
		})
	}
	down, err := backend.New(map[string]backend.Backend{"b": {Addr: backendtest.ClosedAddr(t)}}, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex := down.Exchange()
	defer ex.Release()
	if _, _, err := ex.Do(context.Background(), "b", "GET", "/x"); backend.KindOf(err) != backend.KindUnreachable {
		t.Fatalf("nothing listening: %v, kind %q, want unreachable", err, backend.KindOf(err))
	}
}

// TestRequestIDPropagates: every call carries the public request's id.
func TestRequestIDPropagates(t *testing.T) {
	c, raw := rawClients(t, backend.Options{}, echoPath)
	ex := c.Exchange()
	ex.SetRequestID([]byte("req-42.a_b"))
	if _, _, err := ex.Do(context.Background(), "b", "GET", "/x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ex.DoBody(context.Background(), "b", "POST", "/y", "application/json", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	ex.Release()
	// A recycled Exchange does not carry the previous request's id.
	ex = c.Exchange()
	if _, _, err := ex.Do(context.Background(), "b", "GET", "/z"); err != nil {
		t.Fatal(err)
	}
	ex.Release()
	reqs := raw.Requests()
	for i, want := range []string{"req-42.a_b", "req-42.a_b", ""} {
		if got := reqs[i].Headers["X-Request-Id"]; got != want {
			t.Errorf("%s: X-Request-Id %q, want %q", reqs[i].Line, got, want)
		}
	}
}

// TestDisownedConnectionCarriesNoMore: once the engine says that an
// answer was not its call's (a stray answer on a connection out of step),
// the connection it came on carries no more requests: the next call, a GET
// or a POST, goes on another connection and is answered, nothing having
// been written on the disowned one.
func TestDisownedConnectionCarriesNoMore(t *testing.T) {
	// The body names the connection: the client's address as the backend
	// sees it.
	byConn := func(conn net.Conn, req backendtest.RawRequest) bool {
		_, err := conn.Write(backendtest.RawResponse(200, fmt.Sprintf("%q", conn.RemoteAddr().String())))
		return err == nil
	}
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			c, raw := rawClients(t, backend.Options{MaxConns: 1}, byConn)
			ex := c.Exchange()
			defer ex.Release()
			do := func(m string) string {
				t.Helper()
				var body []byte
				var err error
				if m == "POST" {
					_, body, err = ex.DoBody(t.Context(), "b", m, "/x", "application/json", []byte(`{}`))
				} else {
					_, body, err = ex.Do(t.Context(), "b", m, "/x")
				}
				if err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				return string(body)
			}
			first := do("GET")
			if again := do("GET"); again != first {
				t.Fatalf("a kept-alive connection was not reused: %s then %s", first, again)
			}
			_, body, _ := ex.Do(t.Context(), "b", "GET", "/x")
			ex.Disown(body)
			if next := do(method); next == first {
				t.Errorf("%s went on the disowned connection %s", method, next)
			}
			if n := len(raw.Requests()); n != 4 {
				t.Errorf("backend got %d requests, want 4 (none on the disowned connection)", n)
			}
		})
	}
}
