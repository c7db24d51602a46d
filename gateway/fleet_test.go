package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/poll"

	"github.com/valyala/fasthttp"
)

// balancer is a load balancer's view of two replicas, as HAProxy's is: it
// sends a new connection to the first replica while that one's /readyz
// says 200, else to the second, and records where each went. Connections
// already open stay where they are, as a balancer never moves them.
type balancer struct {
	first, firstAdmin, second string

	mu     sync.Mutex
	dialed []string
}

func (b *balancer) dial(string) (net.Conn, error) {
	to := b.second
	if status, _, err := fasthttp.GetTimeout(nil, "http://"+b.firstAdmin+"/readyz", 5*time.Second); err == nil && status == fasthttp.StatusOK {
		to = b.first
	}
	b.mu.Lock()
	b.dialed = append(b.dialed, to)
	b.mu.Unlock()
	return net.Dial("tcp", to)
}

func (b *balancer) dials() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialed...)
}

// TestDrainMovesClientsElsewhere: on the stop signal, /readyz answers 503
// draining at once; a request on a kept-alive connection is still served,
// with Connection: close, so the client's next request opens a new
// connection, which the balancer sends to the other replica; the public
// port serves on for the drain delay, and the run ends, with exit status
// 0, only after it.
func TestDrainMovesClientsElsewhere(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	const delay = 3 * time.Second
	r := launch(runArgs(t, addr, "-admin-addr", "127.0.0.1:0", "-drain-delay", delay.String(), "-log-level", "error"))
	defer r.stop()
	first, firstAdmin := r.listen(t, "gateway"), r.listen(t, "admin")
	r.drain()
	second, _ := startRun(t, runArgs(t, addr, "-admin-addr", "off", "-log-level", "error"))

	b := &balancer{first: first, firstAdmin: firstAdmin, second: second}
	client := &fasthttp.HostClient{Addr: "fleet", Dial: b.dial}
	get := func() *fasthttp.Response {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), &fasthttp.Response{}
		defer fasthttp.ReleaseRequest(req)
		req.SetRequestURI("http://fleet/v2/experiments/42")
		req.Header.Set("Authorization", assemblytest.Authorization)
		if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
			t.Fatalf("GET: %v", err)
		}
		return resp
	}

	if resp := get(); resp.StatusCode() != fasthttp.StatusOK || resp.ConnectionClose() {
		t.Fatalf("before the stop: %d, Connection: close %v; want 200 kept alive", resp.StatusCode(), resp.ConnectionClose())
	}
	stopped := time.Now()
	r.stop()
	poll.Until(t, 5*time.Second, "/readyz to answer 503 draining", func() bool {
		status, body, err := fasthttp.GetTimeout(nil, "http://"+firstAdmin+"/readyz", 5*time.Second)
		return err == nil && status == fasthttp.StatusServiceUnavailable && strings.Contains(string(body), "draining")
	})
	if resp := get(); resp.StatusCode() != fasthttp.StatusOK || !resp.ConnectionClose() {
		t.Errorf("on the kept-alive connection while draining: %d, Connection: close %v; want 200 with Connection: close",
			resp.StatusCode(), resp.ConnectionClose())
	}
	if resp := get(); resp.StatusCode() != fasthttp.StatusOK {
		t.Errorf("the next request: %d, want 200", resp.StatusCode())
	}
	if d := b.dials(); len(d) != 2 || d[0] != first || d[1] != second {
		t.Errorf("connections went to %v, want one to the draining replica %s, then one to %s", d, first, second)
	}
	// A client that does not watch /readyz is still served meanwhile.
	status, _, err := fasthttp.GetTimeout(nil, "http://"+first+"/openapi.json", 5*time.Second)
	select {
	case <-r.ran:
		t.Fatal("the run ended before the drain delay")
	default:
	}
	if err != nil || status != fasthttp.StatusOK {
		t.Errorf("a new connection to the draining replica: %d %v, want 200", status, err)
	}
	awaitRun(t, r.ran, delay+10*time.Second, "the drain delay and the grace period")
	if took := time.Since(stopped); took < delay {
		t.Errorf("the run ended %v after the stop signal, before the drain delay of %v", took, delay)
	}
	if c, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		c.Close()
		t.Error("the stopped replica still accepts connections")
	}
}

// writeFile replaces path's content with data, as an operator's deploy
// does: a new file renamed over the old, so a reload never reads half.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// hangUp sends SIGHUP to this process, where run listens for it.
func hangUp(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// TestSIGHUPReloadsTokens: SIGHUP puts a new tokens file in use without a
// restart: a token it adds gets in, one it drops gets 401; a file that
// does not load leaves the tokens in use in place and the log says why.
func TestSIGHUPReloadsTokens(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	path := assemblytest.TokensFile(t, assemblytest.TestEntry)
	gw, logs := startRun(t, runArgs(t, addr, "-tokens", path, "-admin-addr", "off", "-log-level", "info"))
	url := "http://" + gw + "/v2/experiments/42"
	const rotated = "rotated-secret"
	status := func(secret string) int {
		s, _, err := getWith(url, "Bearer "+secret, 5*time.Second)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		return s
	}
	if s := status(rotated); s != fasthttp.StatusUnauthorized {
		t.Fatalf("a token not yet in the file: %d, want 401", s)
	}

	writeFile(t, path, "tokens:\n"+assemblytest.TokenEntry("rotated", rotated, "all", auth.AccessRead, "{limit: 1000, per: 1s}"))
	hangUp(t)
	poll.Until(t, 5*time.Second, "the added token to get in", func() bool { return status(rotated) == fasthttp.StatusOK })
	if s := status(assemblytest.Token); s != fasthttp.StatusUnauthorized {
		t.Errorf("the token dropped from the file: %d, want 401", s)
	}

	writeFile(t, path, "tokens:\n  - name: broken\n    sha256: abc\n")
	hangUp(t)
	poll.Until(t, 5*time.Second, "the log to say the bad file was not loaded", func() bool {
		return strings.Contains(logs.String(), "the previous tokens stay in use")
	})
	if !strings.Contains(logs.String(), "sha256") {
		t.Errorf("the log does not say what is wrong with the file:\n%s", logs.String())
	}
	if s := status(rotated); s != fasthttp.StatusOK {
		t.Errorf("after a bad file: %d, want 200 with the tokens in use", s)
	}
}
