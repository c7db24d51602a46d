package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/store/redistest"

	"github.com/valyala/fasthttp"
)

// runArgs returns the command line of a gateway on 127.0.0.1 port 0 with
// every backend at addr and the test token (assemblytest.Token), then
// flags.
func runArgs(t testing.TB, addr string, flags ...string) []string {
	args := []string{"-addr", "127.0.0.1:0", "-tokens", assemblytest.TokensFile(t, assemblytest.TestEntry)}
	for name := range backendtest.Addrs(addr) {
		args = append(args, "-backend", name+"="+addr)
	}
	return append(args, flags...)
}

// getAuthorized is fasthttp.GetTimeout with the test token.
func getAuthorized(url string, timeout time.Duration) (int, []byte, error) {
	return getWith(url, assemblytest.Authorization, timeout)
}

// getWith sends GET url with the Authorization header auth ("": none).
func getWith(url, auth string, timeout time.Duration) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// gatewayRun is the gateway's run in a goroutine of the test.
type gatewayRun struct {
	out  *bufio.Reader           // its stdout, where the LISTEN lines come
	logs *backendtest.SyncBuffer // its stderr
	stop context.CancelFunc      // the stop signal
	ran  <-chan error            // run's result, once it returns
}

// launch starts run with args. The caller reads the LISTEN lines it needs
// (listen), then drains the rest, and stops the run.
func launch(args []string) *gatewayRun {
	ctx, stop := context.WithCancel(context.Background())
	out, w := io.Pipe()
	r := &gatewayRun{out: bufio.NewReader(out), logs: &backendtest.SyncBuffer{}, stop: stop}
	ran := make(chan error, 1)
	r.ran = ran
	go func() {
		ran <- run(ctx, args, w, r.logs)
		w.Close()
	}()
	return r
}

// listen reads the next LISTEN line, which must announce name, and
// returns its address.
func (r *gatewayRun) listen(t *testing.T, name string) string {
	t.Helper()
	line, err := r.out.ReadString('\n')
	if err != nil {
		t.Fatalf("no LISTEN line for %s: %v", name, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN "+name+"=")
	if !ok {
		t.Fatalf("LISTEN line %q, want LISTEN %s=HOST:PORT", line, name)
	}
	return addr
}

// drain discards the rest of stdout, so that run never blocks on it.
func (r *gatewayRun) drain() { go io.Copy(io.Discard, r.out) }

// awaitRun waits up to within for run to return on ran, and fails the
// test unless it returns nil (exit status 0) in time; after names what
// should have made it return.
func awaitRun(t *testing.T, ran <-chan error, within time.Duration, after string) {
	t.Helper()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("run: %v, want nil (exit status 0)", err)
		}
	case <-time.After(within):
		t.Fatalf("run did not return after %s", after)
	}
}

// inFlightAnswer is what the client of a request in flight at the stop
// got.
type inFlightAnswer struct {
	status int
	err    error
}

// stopInFlight runs the gateway with flags in front of a fake backend whose
// results call takes delay, asks for the results page, and sends the stop
// signal once the results call has arrived: the request is then in flight.
// It returns the run, its public address and the request's answer to come.
func stopInFlight(t *testing.T, delay time.Duration, flags ...string) (*gatewayRun, string, <-chan inFlightAnswer) {
	t.Helper()
	f, addr := backendtest.StartTCP(t)
	f.Set("results", backendtest.Behaviour{Delay: delay})
	r := launch(runArgs(t, addr, append([]string{"-admin-addr", "off"}, flags...)...))
	t.Cleanup(r.stop)
	gw := r.listen(t, "gateway")
	r.drain()
	answered := make(chan inFlightAnswer, 1)
	go func() {
		status, _, err := getAuthorized("http://"+gw+"/v2/experiments/42/results", 2*delay+5*time.Second)
		answered <- inFlightAnswer{status, err}
	}()
	poll.Until(t, 10*time.Second, "the results call", func() bool { return f.Calls("results") > 0 })
	r.stop()
	return r, gw, answered
}

// TestGracefulShutdown: a request in flight when the stop signal comes
// completes with 200, new connections are refused, and run returns nil
// (exit status 0).
func TestGracefulShutdown(t *testing.T) {
	r, gw, answered := stopInFlight(t, 300*time.Millisecond, "-grace", "5s", "-log-level", "error")
	a := <-answered
	if a.err != nil || a.status != fasthttp.StatusOK {
		t.Fatalf("in-flight request: status %d, error %v", a.status, a.err)
	}
	awaitRun(t, r.ran, 5*time.Second, "the stop signal")
	if c, err := net.DialTimeout("tcp", gw, time.Second); err == nil {
		c.Close()
		t.Fatal("the gateway still accepts connections after stopping")
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"Examples:", "-mode", "-backend NAME=HOST:PORT", "-deadline"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "parallel"},
		{"-backend", "results"},
		{"-pool-size", "0"},
		{"-config", "/nonexistent.yaml"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}

// TestAdminListener: the operations endpoints are served on the admin
// listener, announced on a second LISTEN line after the gateway's, and not
// on the public port.
func TestAdminListener(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	args := runArgs(t, addr, "-admin-addr", "127.0.0.1:0", "-log-level", "error", "-pprof")
	r := launch(args)
	defer func() {
		r.stop()
		if err := <-r.ran; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	public, admin := r.listen(t, "gateway"), r.listen(t, "admin")
	r.drain()
	for _, path := range []string{"/metrics", "/readyz", "/healthz", "/debug/pprof/"} {
		status, body, err := fasthttp.GetTimeout(nil, "http://"+admin+path, 5*time.Second)
		if err != nil || status != fasthttp.StatusOK {
			t.Errorf("admin %s: %d %v: %.200s", path, status, err, body)
		}
		status, _, err = fasthttp.GetTimeout(nil, "http://"+public+path, 5*time.Second)
		if err != nil || status != fasthttp.StatusNotFound {
			t.Errorf("public %s: %d %v, want 404", path, status, err)
		}
	}
	status, body, _ := fasthttp.GetTimeout(nil, "http://"+admin+"/metrics", 5*time.Second)
	if status != fasthttp.StatusOK || !bytes.Contains(body, []byte("fanout_client_connections")) {
		t.Errorf("admin /metrics: %d: %.300s", status, body)
	}
	// The command line may carry a secret: pprof never shows it.
	if status, body, _ := fasthttp.GetTimeout(nil, "http://"+admin+"/debug/pprof/cmdline", 5*time.Second); status != fasthttp.StatusNotFound {
		t.Errorf("admin /debug/pprof/cmdline: %d, want 404: %.200s", status, body)
	}
}

// TestPprofIsOptIn: without -pprof, the admin listener serves no profiler.
func TestPprofIsOptIn(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	r := launch(runArgs(t, addr, "-admin-addr", "127.0.0.1:0", "-log-level", "error"))
	defer func() {
		r.stop()
		if err := <-r.ran; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	r.listen(t, "gateway")
	admin := r.listen(t, "admin")
	r.drain()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap"} {
		if status, _, err := fasthttp.GetTimeout(nil, "http://"+admin+path, 5*time.Second); err != nil || status != fasthttp.StatusNotFound {
			t.Errorf("admin %s without -pprof: %d %v, want 404", path, status, err)
		}
	}
}

// TestProcs: -procs sets the CPUs that run the gateway's code at once
// (GOMAXPROCS), on which its overload signal counts busy CPUs.
func TestProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	want := runtime.GOMAXPROCS(0) + 1
	_, addr := backendtest.StartTCP(t)
	r := launch(runArgs(t, addr, "-procs", strconv.Itoa(want), "-log-level", "error"))
	defer func() {
		r.stop()
		if err := <-r.ran; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	r.listen(t, "gateway")
	r.drain()
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Errorf("GOMAXPROCS %d with -procs %d", got, want)
	}
}

// TestRedisPasswordOffTheCommandLine: Redis's password comes from a file
// or the environment, the URL carrying none, and reaches Redis; it shows
// nowhere: not in the logs, not in -h, not in an error about the URL.
func TestRedisPasswordOffTheCommandLine(t *testing.T) {
	const password = "hunter2-redis-secret"
	rs := redistest.Start(t, "--requirepass", password)
	_, addr := backendtest.StartTCP(t)
	file := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		env   string
		flags []string
	}{
		{"from a file", "", []string{"-redis-password-file", file}},
		{"from the environment", password, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(config.RedisPasswordEnv, c.env)
			gw, logs := startRun(t, runArgs(t, addr, append([]string{"-admin-addr", "off", "-log-level", "debug", "-redis", rs.URL(), "-ratelimit-on-store-error", "closed"}, c.flags...)...))
			// A rate-limited request, whose limit fails closed: it
			// passes only if the store answers.
			if status, body, err := getAuthorized("http://"+gw+"/v2/experiments/42", 5*time.Second); err != nil || status != fasthttp.StatusOK {
				t.Errorf("status %d (%v), want 200: %s\n%s", status, err, body, logs.String())
			}
			if strings.Contains(logs.String(), password) {
				t.Errorf("the logs show the password:\n%s", logs.String())
			}
		})
	}
	t.Run("without it", func(t *testing.T) {
		t.Setenv(config.RedisPasswordEnv, "")
		gw, _ := startRun(t, runArgs(t, addr, "-admin-addr", "off", "-log-level", "error", "-redis", rs.URL(), "-ratelimit-on-store-error", "closed"))
		if status, _, _ := getAuthorized("http://"+gw+"/v2/experiments/42", 5*time.Second); status != fasthttp.StatusServiceUnavailable {
			t.Errorf("status %d, want 503: Redis wants the password", status)
		}
	})
	t.Run("in the URL", func(t *testing.T) {
		t.Setenv(config.RedisPasswordEnv, "")
		inURL := "redis://:" + password + "@" + rs.Addr + "/0"
		_, logs := startRun(t, runArgs(t, addr, "-admin-addr", "off", "-log-level", "debug", "-redis", inURL))
		if !strings.Contains(logs.String(), "process list") || strings.Contains(logs.String(), password) {
			t.Errorf("want a warning that does not show the password:\n%s", logs.String())
		}
		var help bytes.Buffer
		t.Setenv(config.RedisPasswordEnv, password)
		_ = run(context.Background(), []string{"-h"}, io.Discard, &help)
		if strings.Contains(help.String(), password) {
			t.Error("-h shows the password of the environment")
		}
		err := run(context.Background(), []string{"-redis", "http://:" + password + "@" + rs.Addr}, io.Discard, io.Discard)
		if err == nil || strings.Contains(err.Error(), password) {
			t.Errorf("a URL of the wrong scheme: %v, want an error without the password", err)
		}
	})
}

// TestShutdownPastGrace: a request that outlasts the grace period is cut
// with a 503, the cut is logged with its count, and run returns nil (exit
// status 0): a shutdown that ends on time is not a failure.
func TestShutdownPastGrace(t *testing.T) {
	r, _, answered := stopInFlight(t, 5*time.Second, "-grace", "100ms", "-deadline", "10s", "-log-level", "warn")
	awaitRun(t, r.ran, 4*time.Second, "the grace period")
	if a := <-answered; a.status != fasthttp.StatusServiceUnavailable {
		t.Errorf("the request cut: status %d, error %v, want 503", a.status, a.err)
	}
	if !strings.Contains(r.logs.String(), "cut=1") {
		t.Errorf("the log does not count the request cut:\n%s", r.logs.String())
	}
}

// startRun runs the gateway with args until the test ends and returns its
// public address and its stderr.
func startRun(t *testing.T, args []string) (string, *backendtest.SyncBuffer) {
	t.Helper()
	r := launchUntilEnd(t, args)
	gw := r.listen(t, "gateway")
	r.drain()
	return gw, r.logs
}

// launchUntilEnd launches run with args, stopped when the test ends, which
// fails unless run returns nil then.
func launchUntilEnd(t *testing.T, args []string) *gatewayRun {
	r := launch(args)
	t.Cleanup(func() {
		r.stop()
		if err := <-r.ran; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return r
}

// TestDevToken: without -tokens, the gateway makes a random token, prints
// it on stdout after the LISTEN line with a curl line that works as
// printed, never on stderr, the log stream, and refuses /v2 requests
// without it; the document stays open.
func TestDevToken(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "off", "-log-level", "info"}
	for name := range backendtest.Addrs(addr) {
		args = append(args, "-backend", name+"="+addr)
	}
	r := launchUntilEnd(t, args)
	gw := r.listen(t, "gateway")
	// The lines after LISTEN, read until the curl line, for 10 seconds
	// at most: a gateway that prints none must fail the test, not hang it.
	lines := make(chan string)
	go func() {
		defer close(lines)
		for {
			line, err := r.out.ReadString('\n')
			if err != nil {
				return
			}
			lines <- line
			if strings.Contains(line, "curl -H") {
				return
			}
		}
	}()
	var token string
	var stdout strings.Builder
	timeout := time.After(10 * time.Second)
	for token == "" {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-timeout:
		}
		if !ok {
			t.Fatalf("no curl line with a development token on stdout:\n%s\nstderr:\n%s", stdout.String(), r.logs.String())
		}
		stdout.WriteString(line)
		if _, rest, ok := strings.Cut(line, "curl -H 'Authorization: Bearer "); ok {
			token, _, _ = strings.Cut(rest, "'")
			if !strings.Contains(rest, "http://"+gw+"/v2/") {
				t.Errorf("the curl line does not name the gateway's address %s: %q", gw, line)
			}
		}
	}
	r.drain()
	if len(token) < 32 {
		t.Fatalf("no development token of at least 32 characters on stdout:\n%s", stdout.String())
	}
	checkDevToken(t, gw, token)
	if logs := r.logs.String(); strings.Contains(logs, token) || !strings.Contains(logs, "printed on stdout") {
		t.Errorf("the log stream holds the development token, or does not say where it is:\n%s", logs)
	}
}

// TestDevTokenFile: with -dev-token-file, the development token is in that
// file, readable by its owner only, and neither on stdout nor in the log.
func TestDevTokenFile(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	file := filepath.Join(t.TempDir(), "token")
	// A file that was there, readable by all, is narrowed.
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "off", "-log-level", "info", "-dev-token-file", file}
	for name := range backendtest.Addrs(addr) {
		args = append(args, "-backend", name+"="+addr)
	}
	r := launch(args)
	gw := r.listen(t, "gateway")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(data))
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if len(token) < 32 {
		t.Fatalf("token file holds %q", data)
	}
	checkDevToken(t, gw, token)
	r.stop()
	rest, _ := io.ReadAll(r.out)
	if err := <-r.ran; err != nil {
		t.Errorf("run: %v", err)
	}
	if strings.Contains(string(rest), token) {
		t.Errorf("stdout holds the token:\n%s", rest)
	}
	if logs := r.logs.String(); strings.Contains(logs, token) || !strings.Contains(logs, file) {
		t.Errorf("the log stream holds the development token, or does not name its file:\n%s", logs)
	}
}

// checkDevToken checks that the gateway at gw refuses /v2 requests
// without token and serves them with it, and serves its document to all.
func checkDevToken(t *testing.T, gw, token string) {
	t.Helper()
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", fasthttp.StatusUnauthorized},
		{"Bearer not-" + token, fasthttp.StatusUnauthorized},
		{"Bearer " + token, fasthttp.StatusOK},
	} {
		status, body, err := getWith("http://"+gw+"/v2/experiments/42", c.auth, 5*time.Second)
		if err != nil || status != c.want {
			t.Errorf("Authorization %q: status %d (%v), want %d: %s", c.auth, status, err, c.want, body)
		}
	}
	if status, _, err := getWith("http://"+gw+"/openapi.yaml", "", 5*time.Second); err != nil || status != fasthttp.StatusOK {
		t.Errorf("/openapi.yaml without a token: status %d (%v), want 200", status, err)
	}
}

// TestAuthOff: -auth off lets requests in without a token and warns on
// start.
func TestAuthOff(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	gw, logs := startRun(t, runArgs(t, addr, "-admin-addr", "off", "-auth", "off", "-log-level", "warn"))
	if status, body, err := getWith("http://"+gw+"/v2/experiments/42", "", 5*time.Second); err != nil || status != fasthttp.StatusOK {
		t.Errorf("no token with -auth off: status %d (%v), want 200: %s", status, err, body)
	}
	if !strings.Contains(logs.String(), "authentication is off") {
		t.Errorf("no warning that authentication is off:\n%s", logs.String())
	}
}

// TestBadTokensFile: a tokens file with a fault stops the start with an
// error that names the line and the field.
func TestBadTokensFile(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	path := assemblytest.TokensFile(t, assemblytest.TestEntry, "  - name: broken\n    sha256: abc\n    projects: all\n    access: read\n")
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", "off", "-tokens", path, "-backend", "experiments=" + addr}
	err := run(context.Background(), args, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "line 7") || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("run: %v, want an error naming line 7 and sha256", err)
	}
}
