package hardening

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"

	"github.com/valyala/fasthttp"
)

// The limits of these tests are short so that the tests are: the gateway's
// defaults are seconds.
const shortTimeout = 300 * time.Millisecond

// slowRequests are the starts of requests a slow-loris client dribbles,
// one byte at a time, without ever finishing.
var slowRequests = []struct{ name, prefix string }{
	{"request line", "GET /v2/exp"},
	{"headers", "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "X-Slow: "},
	{"body", "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"},
}

// loris is one slow client's fate.
type loris struct {
	answer answer
	err    error
	held   time.Duration // from connecting to the server's answer or close
}

// startLoris connects, sends prefix and then one byte every drip until the
// server answers or closes the connection, or until giveUp.
func startLoris(addr, prefix string, drip, giveUp time.Duration) <-chan loris {
	out := make(chan loris, 1)
	go func() {
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			out <- loris{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(giveUp))
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.WriteString(c, prefix); err != nil {
				return
			}
			t := time.NewTicker(drip)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}
		}()
		var resp fasthttp.Response
		err = resp.Read(bufio.NewReader(c))
		l := loris{err: err, held: time.Since(start)}
		close(done)
		wg.Wait()
		if err == nil {
			l.answer = answer{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()), body: append([]byte(nil), resp.Body()...)}
		}
		out <- l
	}()
	return out
}

// TestSlowLoris: clients that dribble a request line, headers or a body
// are answered 408 and closed once the read timeout has passed since their
// first byte, however steadily they send; meanwhile every other client is
// served at once.
func TestSlowLoris(t *testing.T) {
	// Longer than the others: the good requests must all be served while
	// the slow clients are held, even on a busy machine.
	const readTimeout = 3 * shortTimeout
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{ReadTimeout: readTimeout}})

	const perKind = 8
	var slow []<-chan loris
	for _, r := range slowRequests {
		for i := 0; i < perKind; i++ {
			slow = append(slow, startLoris(g.addr, r.prefix, shortTimeout/10, 20*readTimeout))
		}
	}
	poll.Until(t, 5*time.Second, "the slow clients connected", func() bool { return g.openConns() >= len(slow) })

	client := &fasthttp.HostClient{Addr: g.addr}
	defer client.CloseIdleConnections()
	var slowest time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		status, body, err := authGet(client, "http://gateway/v2/experiments/42/results", 5*time.Second)
		if err != nil || status != fasthttp.StatusOK {
			t.Fatalf("a good request beside slow clients: status %d, error %v: %.200s", status, err, body)
		}
		slowest = max(slowest, time.Since(start))
	}

	var shortest time.Duration = -1
	for i, ch := range slow {
		l := <-ch
		name := slowRequests[i/perKind].name
		if l.err != nil {
			t.Errorf("slow %s: no answer: %v (after %v)", name, l.err, l.held)
			continue
		}
		checkProblem(t, l.answer, fasthttp.StatusRequestTimeout, problem.TypeRequestTimeout)
		// The connection is held about the read timeout: no less (the limit
		// is the read timeout, not some shorter guess) and not much more
		// (dribbling bytes does not extend it).
		if l.held < readTimeout*9/10 || l.held > 5*readTimeout {
			t.Errorf("slow %s held its connection %v with a read timeout of %v", name, l.held, readTimeout)
		}
		if shortest < 0 || l.held < shortest {
			shortest = l.held
		}
	}
	if slowest >= shortest {
		t.Errorf("the slowest good request took %v, as long as a slow client was held (%v): it waited for them", slowest, shortest)
	}
}

// TestIdleTimeout: a keep-alive connection left idle is closed after the
// idle timeout, not kept for ever.
func TestIdleTimeout(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{ReadTimeout: shortTimeout, IdleTimeout: shortTimeout}})
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * shortTimeout))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, get("/openapi.json")); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(br); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("status %d, error %v", resp.StatusCode(), err)
	}
	idle := time.Now()
	n, err := br.Read(make([]byte, 1))
	held := time.Since(idle)
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d bytes, error %v; want the server to close it", n, err)
	}
	if held < shortTimeout*9/10 || held > 5*shortTimeout {
		t.Errorf("idle connection closed after %v with an idle timeout of %v", held, shortTimeout)
	}
}

// TestConnectionLimits: when slow clients hold every connection slot, or
// one address holds its share, a new connection is refused at once with
// the limit's problem rather than left hanging, and is served again as
// soon as the read timeout has freed the slots.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		held   int
		limits server.Limits
		status int
		typ    string
		who    string
	}{
		{"MaxConns", 3, server.Limits{ReadTimeout: shortTimeout, MaxClientConns: 3},
			fasthttp.StatusServiceUnavailable, problem.TypeUnavailable, "a client beyond the limit"},
		{"MaxConnsPerIP", 2, server.Limits{ReadTimeout: shortTimeout, MaxConnsPerIP: 2},
			fasthttp.StatusTooManyRequests, problem.TypeTooManyConnections, "a connection beyond the address's share"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, startCluster(t), gatewayOptions{limits: tc.limits})
			var slow []<-chan loris
			for i := 0; i < tc.held; i++ {
				slow = append(slow, startLoris(g.addr, slowRequests[1].prefix, shortTimeout/10, 20*shortTimeout))
			}
			poll.Until(t, 5*time.Second, "the slow clients connected", func() bool { return g.openConns() >= tc.held })
			a, err := exchange(t, g.addr, []byte(get("/v2/experiments/42")), false, false)
			if err != nil {
				t.Fatalf("%s: %v", tc.who, err)
			}
			checkProblem(t, a, tc.status, tc.typ)
			if a.took >= shortTimeout {
				t.Errorf("%s answered after %v, want at once", tc.who, a.took)
			}
			for _, ch := range slow {
				if l := <-ch; l.err != nil || l.answer.status != fasthttp.StatusRequestTimeout {
					t.Errorf("slow client: status %d, error %v", l.answer.status, l.err)
				}
			}
			poll.Until(t, 10*shortTimeout, "a page served again after the slow clients left", func() bool {
				a, err := exchange(t, g.addr, []byte(get("/v2/experiments/42")), false, false)
				return err == nil && a.status == fasthttp.StatusOK
			})
		})
	}
}

// TestSlowReader: a client that sends many requests and never reads the
// answers fills the socket buffers; the write timeout then ends its
// connection instead of letting it hold a worker, and others are served
// meanwhile.
func TestSlowReader(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{ReadTimeout: time.Minute, WriteTimeout: shortTimeout}})
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Small receive buffer, many large answers: the gateway's writes block.
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	const pipelined = 2000 // about 40 MB of answers
	req := []byte(get("/openapi.json"))
	go func() {
		for i := 0; i < pipelined; i++ {
			if _, err := c.Write(req); err != nil {
				return
			}
		}
	}()
	time.Sleep(2 * shortTimeout) // not reading

	client := &fasthttp.HostClient{Addr: g.addr}
	defer client.CloseIdleConnections()
	if status, body, err := authGet(client, "http://gateway/v2/experiments/42/results", 5*time.Second); err != nil || status != 200 {
		t.Fatalf("a good request beside a slow reader: status %d, error %v: %.200s", status, err, body)
	}

	// Reading now finds what the gateway wrote before it gave up, then the
	// end of the connection, well short of every answer.
	_ = c.SetReadDeadline(time.Now().Add(20 * shortTimeout))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection of a client that does not read is still open after %v (read %d bytes)", 20*shortTimeout, n)
	}
	if full := int64(pipelined) * 20000; n >= full {
		t.Errorf("read %d bytes: every answer was written, the writes never blocked", n)
	}
}
