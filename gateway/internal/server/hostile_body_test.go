//go:build unix

package server_test

import (
	"encoding/json"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/internal/backendtest"

	"github.com/valyala/fasthttp"
)

// hostileBodies are what a hostile backend sent the gateway. A validator
// that recursed without bound overflowed the stack on the first two and
// killed the process for every tenant; one that quoted its error at every
// level spent seconds of CPU on the third, past any deadline.
var hostileBodies = []struct {
	name string
	body string
}{
	{"4 MB of nested arrays", strings.Repeat("[", 2_000_000) + strings.Repeat("]", 2_000_000)},
	{"one million levels", strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)},
	{"20,000 unclosed arrays", strings.Repeat("[", 20_000)},
	{"deep objects", strings.Repeat(`{"a":`, 300_000) + "1" + strings.Repeat("}", 300_000)},
}

// cpuTime is the CPU the process has spent, user and system.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// paddedExperiment is experiment 42's body grown to n bytes by its
// description: a normal body as large as a hostile one.
func paddedExperiment(t *testing.T, n int) string {
	t.Helper()
	base := experimentWith(t, "description", `""`)
	pad := max(n-len(base), 0)
	return experimentWith(t, "description", `"`+strings.Repeat("x", pad)+`"`)
}

// TestHostileBackendBodies: each hostile body, sent by the backend of a
// proxied call, is a 502 malformed naming the call; sent by an optional
// call of the results page, it leaves the page partial with the call
// missing as malformed. The process survives, and the CPU a hostile body
// costs is of the order of a normal body of its size: the check is bounded
// in depth and work, one pass.
func TestHostileBackendBodies(t *testing.T) {
	for _, tc := range hostileBodies {
		t.Run(tc.name, func(t *testing.T) {
			var experiment, layer atomic.Pointer[string]
			answer := func(p *atomic.Pointer[string]) func(net.Conn, backendtest.RawRequest) bool {
				return func(conn net.Conn, _ backendtest.RawRequest) bool {
					_, err := conn.Write(backendtest.RawResponse(200, *p.Load()))
					return err == nil
				}
			}
			routes := goodRoutes()
			routes["/experiments/42"] = answer(&experiment)
			routes["/layers/"] = answer(&layer)
			good, goodLayer := string(backendtest.Experiment(42)), string(backendtest.Layer(1))
			experiment.Store(&good)
			layer.Store(&goodLayer)
			g, _ := withRaw(t, gatewayOptions{deadline: 10 * time.Second}, routes)

			hostile := tc.body
			experiment.Store(&hostile)
			uri := "/v2/experiments/42"
			r := g.get(t, uri)
			g.validateResponse(t, fasthttp.MethodGet, uri, r)
			if p := checkProblem(t, r, fasthttp.StatusBadGateway); p.Call != "experiment" || p.Kind != "malformed" {
				t.Errorf("proxied hostile body: problem %+v, want the experiment call, malformed", p)
			}

			experiment.Store(&good)
			layer.Store(&hostile)
			uri = "/v2/experiments/42/results"
			r = g.get(t, uri)
			g.validateResponse(t, fasthttp.MethodGet, uri, r)
			var page struct {
				Partial bool
				Missing []struct{ Call, Kind string }
			}
			if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 || !page.Partial ||
				len(page.Missing) != 1 || page.Missing[0].Call != "layer" || page.Missing[0].Kind != "malformed" {
				t.Errorf("hostile optional body: %d %s, want a page missing the layer as malformed", r.status, r.body)
			}

			// The CPU of hostile bodies against normal ones as large, both
			// proxied, alternated so that the machine's load falls on both;
			// the least of five of each, so that a pause elsewhere does not
			// count.
			normal := paddedExperiment(t, len(hostile))
			least := [2]time.Duration{time.Hour, time.Hour} // hostile, normal
			for range 5 {
				for k, body := range [2]*string{&hostile, &normal} {
					experiment.Store(body)
					before := cpuTime(t)
					r := g.get(t, "/v2/experiments/42")
					least[k] = min(least[k], cpuTime(t)-before)
					if want := [2]int{502, 200}[k]; r.status != want {
						t.Fatalf("status %d, want %d", r.status, want)
					}
				}
			}
			t.Logf("CPU per request: hostile %v, normal %v", least[0], least[1])
			// Generous slack, as the machine is shared: an unbounded check
			// costs hundreds of times more.
			if least[0] > 10*least[1] {
				t.Errorf("a hostile body costs %v of CPU, a normal one as large %v: want about as much at most", least[0], least[1])
			}
		})
	}
}
