package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickleServer is a fake server for slow uploads: it reads each request's
// head and then its body byte by byte, recording when each byte came, and
// answers as answer says once it has read after bytes of the body (-1:
// once the whole body is read).
type trickleServer struct {
	ln     net.Listener
	after  int
	status int

	mu      sync.Mutex
	heads   []*http.Request
	arrived [][]time.Time // per connection, the arrival of each body byte
	peers   []string      // per connection, the client's IP
	open    int
	peak    int
}

func startTrickleServer(t *testing.T, after, status int) *trickleServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &trickleServer{ln: ln, after: after, status: status}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *trickleServer) serve(c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.open++
	s.peak = max(s.peak, s.open)
	i := len(s.arrived)
	s.arrived = append(s.arrived, nil)
	s.peers = append(s.peers, c.RemoteAddr().(*net.TCPAddr).IP.String())
	s.mu.Unlock()
	// An upload stops counting as open before it is answered: the client
	// may start its next one as soon as it reads the answer, before this
	// goroutine returns.
	var once sync.Once
	closed := func() { once.Do(func() { s.mu.Lock(); s.open--; s.mu.Unlock() }) }
	defer closed()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.heads = append(s.heads, req)
	s.mu.Unlock()
	answer := func() {
		closed()
		io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(s.status)+" "+http.StatusText(s.status)+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
	for n := range req.ContentLength {
		if int(n) == s.after {
			answer()
			return
		}
		if _, err := br.ReadByte(); err != nil {
			return
		}
		s.mu.Lock()
		s.arrived[i] = append(s.arrived[i], time.Now())
		s.mu.Unlock()
	}
	answer()
}

// TestTrickleSendsSlowly: each upload's body leaves at the pace set, one
// byte at a time, on as many connections at once as there are clients,
// with the token; answers are counted, and an upload answered starts
// again on a new connection.
func TestTrickleSendsSlowly(t *testing.T) {
	srv := startTrickleServer(t, -1, 0)
	srv.status = 201
	tr := Trickle{
		URL: "http://" + srv.ln.Addr().String() + "/v2/experiments", Body: []byte(`{"n":1}`),
		Clients: 3, BytesPerSecond: 40, Authorization: "Bearer hostile",
	}
	// 7 bytes at 40 a second: about 175 ms an upload, several each.
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	rep, err := tr.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.peak != 3 {
		t.Errorf("%d uploads at once at the most, want 3", srv.peak)
	}
	if len(srv.heads) == 0 || srv.heads[0].Header.Get("Authorization") != "Bearer hostile" ||
		srv.heads[0].Method != "POST" || srv.heads[0].URL.Path != "/v2/experiments" || srv.heads[0].ContentLength != 7 {
		t.Fatalf("heads: %+v", srv.heads)
	}
	full := 0
	for _, times := range srv.arrived {
		if len(times) < len(tr.Body) {
			continue
		}
		full++
		// Six gaps of 25 ms: more than half of that, at the least, from
		// the first byte to the last (a generous slack for a busy
		// machine, which only ever makes the gaps longer).
		if spread := times[len(times)-1].Sub(times[0]); spread < 6*25*time.Millisecond/2 {
			t.Errorf("a 7-byte body arrived in %v, want about 150 ms at 40 bytes a second", spread)
		}
	}
	if full < 3 || rep.Codes["201"] != full || rep.Uploads < rep.Codes["201"] {
		t.Errorf("%d bodies arrived in full; report %+v", full, rep)
	}
	if rep.BodyBytes < int64(full*len(tr.Body)) {
		t.Errorf("report says %d body bytes sent, the server read at least %d", rep.BodyBytes, full*len(tr.Body))
	}
}

// TestTrickleEarlyAnswer: a server that answers (408) before the body is
// in ends the upload there; the client counts the answer and starts again.
func TestTrickleEarlyAnswer(t *testing.T) {
	srv := startTrickleServer(t, 2, 408)
	tr := Trickle{URL: "http://" + srv.ln.Addr().String() + "/up", Body: []byte(strings.Repeat("x", 100)), Clients: 2, BytesPerSecond: 50}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	rep, err := tr.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// An upload takes about 2 bytes at 50 a second before its answer:
	// several per client, where a full body would take 2 s.
	if rep.Codes["408"] < 4 || rep.Uploads < rep.Codes["408"] || rep.BodyBytes >= int64(len(tr.Body)) {
		t.Errorf("report %+v; want several 408s, each after a few bytes", rep)
	}
}

// TestTrickleLocalAddr: the uploads leave from the address set, a second
// client address on one machine.
func TestTrickleLocalAddr(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux routes all of 127.0.0.0/8 to loopback")
	}
	srv := startTrickleServer(t, 0, 408)
	tr := Trickle{URL: "http://" + srv.ln.Addr().String() + "/up", Body: []byte("x"), Clients: 1, BytesPerSecond: 10, LocalAddr: "127.0.0.2"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.peers) == 0 || srv.peers[0] != "127.0.0.2" {
		t.Errorf("peers %v, want 127.0.0.2", srv.peers)
	}
}

// TestTrickleRefusesBadSettings: a Trickle without what it needs is an
// error, not an idle run.
func TestTrickleRefusesBadSettings(t *testing.T) {
	for _, tr := range []Trickle{
		{URL: "http://127.0.0.1:1/x", Body: []byte("x"), Clients: 0, BytesPerSecond: 1},                    // no client
		{URL: "http://127.0.0.1:1/x", Body: []byte("x"), Clients: 1, BytesPerSecond: 0},                    // no pace
		{URL: "http://127.0.0.1:1/x", Clients: 1, BytesPerSecond: 1},                                       // no body
		{URL: "127.0.0.1:1", Body: []byte("x"), Clients: 1, BytesPerSecond: 1},                             // no scheme
		{URL: "http://127.0.0.1:1/x", Body: []byte("x"), Clients: 1, BytesPerSecond: 1, LocalAddr: "here"}, // no IP
	} {
		if _, err := tr.Run(context.Background()); err == nil {
			t.Errorf("%+v: no error", tr)
		}
	}
}

// TestFormatCounts: statuses in numeric order, error kinds after them in
// alphabetical order.
func TestFormatCounts(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want string
	}{
		// Each row proves one ordering rule.
		{nil, ""},
		{map[string]int{"504": 3, "200": 1000, "0": 2}, "0:2 200:1000 504:3"},
		{map[string]int{"1000": 1, "99": 1}, "99:1 1000:1"},
		{map[string]int{"timeout": 1, "http_502": 2, "eof": 3}, "eof:3 http_502:2 timeout:1"},
		{map[string]int{"reset": 1, "408": 2}, "408:2 reset:1"},
	} {
		if got := FormatCounts(tc.in); got != tc.want {
			t.Errorf("FormatCounts(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
