package hardening

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"fanout/bench/launch"

	"github.com/valyala/fasthttp"
)

// TestShutdownBinary stops the real gateway binary with SIGTERM while
// requests are in flight: they complete with 200, connections opened after
// the signal are refused, and the process exits with status 0.
func TestShutdownBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gatewayBin, err := launch.Build(ctx, "./gateway")
	if err != nil {
		t.Fatal(err)
	}
	mocksBin, err := launch.Build(ctx, "./mockbackends")
	if err != nil {
		t.Fatal(err)
	}
	// The results service is slow, so that requests are in flight when
	// the signal comes.
	const slow = 500 * time.Millisecond
	mocks, err := launch.Start(ctx, mocksBin, []string{"-experiments-addr", "127.0.0.1:0", "-layers-addr", "127.0.0.1:0",
		"-projects-addr", "127.0.0.1:0", "-results-addr", "127.0.0.1:0", "-latency", "experiments=none",
		"-latency", "layers=none", "-latency", "projects=none", "-latency", "results=fixed:" + slow.String(),
		"-log-level", "error"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mocks.Stop(5 * time.Second)
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "off", "-grace", "5s", "-log-level", "error"}
	for name, addr := range mocks.Addrs {
		args = append(args, "-backend", name+"="+addr)
	}
	gw, err := launch.Start(ctx, gatewayBin, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Stop(5 * time.Second)
	addr := gw.Addr("gateway")

	const inFlight = 4
	type result struct {
		status int
		body   string
		err    error
		done   time.Time
	}
	results := make(chan result, inFlight)
	for i := 0; i < inFlight; i++ {
		go func() {
			status, body, err := fasthttp.GetTimeout(nil, "http://"+addr+"/v2/experiments/42/results", 10*time.Second)
			results <- result{status, string(body), err, time.Now()}
		}()
	}
	time.Sleep(slow / 5) // every request is waiting for the results service

	signalled := time.Now()
	if err := gw.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the requests in flight finish.
	var refused time.Time
	for deadline := time.Now().Add(2 * slow); refused.IsZero() && time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			// A dial that races the listener's close may see a reset
			// instead of a refusal: either way nothing was served.
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("a connection after SIGTERM: %v, want refused", err)
			}
			refused = time.Now()
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if refused.IsZero() {
		t.Error("new connections are still accepted after SIGTERM")
	}

	var first time.Time
	for i := 0; i < inFlight; i++ {
		r := <-results
		if r.err != nil || r.status != fasthttp.StatusOK || !strings.Contains(r.body, `"experiment"`) {
			t.Errorf("request in flight at SIGTERM: status %d, error %v: %.200s", r.status, r.err, r.body)
		}
		if first.IsZero() || r.done.Before(first) {
			first = r.done
		}
	}
	if !refused.IsZero() && !refused.Before(first) {
		t.Errorf("connections were refused only %v after SIGTERM, when the requests in flight had finished (%v)",
			refused.Sub(signalled), first.Sub(signalled))
	}
	select {
	case <-gw.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway did not exit after SIGTERM")
	}
	if err := gw.Stop(time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if code := gw.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}
