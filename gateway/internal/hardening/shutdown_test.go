package hardening

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/poll"
	"fanout/mockbackends/model"

	"github.com/valyala/fasthttp"
)

// TestShutdownBinary stops the real gateway binary with SIGTERM while
// requests are in flight: they complete with 200, connections opened after
// the signal are refused, and the process exits with status 0.
func TestShutdownBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The results service is slow, so that requests are in flight when
	// the signal comes. The mocks run in process: only the gateway's exit
	// status needs a real process.
	const slow = 500 * time.Millisecond
	mocks := startCluster(t)
	if err := mocks.SetConfig(model.ServiceResults, model.Service{Latency: new(model.Fixed(slow))}); err != nil {
		t.Fatal(err)
	}
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "off", "-grace", "5s", "-log-level", "error",
		"-tokens", assemblytest.TokensFile(t, assemblytest.TestEntry)}
	for name, addr := range mocks.Addrs() {
		args = append(args, "-backend", name+"="+addr)
	}
	gw, addr := startGatewayProcess(ctx, t, args)

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
			status, body, err := authGet(nil, "http://"+addr+"/v2/experiments/42/results", 10*time.Second)
			results <- result{status, string(body), err, time.Now()}
		}()
	}
	poll.Until(t, 5*time.Second, "every request to wait for the results service", func() bool {
		return mocks.Stats(model.ServiceResults).InFlight == inFlight
	})

	signalled := time.Now()
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
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
	case <-gw.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway did not exit after SIGTERM")
	}
	if gw.waitErr != nil {
		t.Errorf("exit: %v; stderr:\n%s", gw.waitErr, gw.stderr.String())
	}
	if code := gw.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// gatewayProcess is the gateway binary running as a child of the test.
type gatewayProcess struct {
	cmd     *exec.Cmd
	stderr  *bytes.Buffer // written by the os/exec copier until done
	done    chan struct{} // closed once the process is reaped
	waitErr error         // the result of Wait, valid after done
}

// startGatewayProcess builds the gateway into t.TempDir and starts it with
// args, and returns once it prints the public address on its first LISTEN
// line. The process is killed when the test ends if it still runs. It is
// local to this package on purpose: the gateway's tests must not depend on
// the bench tree, which holds the project's process launcher.
func startGatewayProcess(ctx context.Context, t *testing.T, args []string) (*gatewayProcess, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "fanout/gateway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the gateway: %v\n%s", err, out)
	}
	g := &gatewayProcess{cmd: exec.CommandContext(ctx, bin, args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	g.cmd.Stderr = g.stderr
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader hands over the first LISTEN line and drains the rest, so
	// the gateway never blocks on a full pipe; Wait runs after it is done
	// reading, as os/exec requires of StdoutPipe.
	listen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "LISTEN ") {
				select {
				case listen <- sc.Text():
				default:
				}
			}
		}
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
	select {
	case line := <-listen:
		for _, f := range strings.Fields(line)[1:] {
			if addr, ok := strings.CutPrefix(f, "gateway="); ok {
				return g, addr
			}
		}
		t.Fatalf("no gateway address on the first LISTEN line %q", line)
	case <-g.done:
		t.Fatalf("the gateway exited before listening: %v\n%s", g.waitErr, g.stderr.String())
	case <-ctx.Done():
		t.Fatalf("the gateway printed no LISTEN line: %v", ctx.Err())
	}
	return nil, ""
}
