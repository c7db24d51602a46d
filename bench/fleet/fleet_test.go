package fleet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fanout/bench/fleet"
	"fanout/bench/launch"
)

// limitedToken is the secret of a token limited to limitedRate requests a
// second, with a burst of as many.
const (
	limitedToken = "fleet-limited-token"
	limitedRate  = 10
)

// tally counts the answers of a bounded loop of GETs by status; a GET
// that got no answer counts under 0.
type tally struct {
	mu     sync.Mutex
	status map[int]int
	errs   []string
}

func (c *tally) add(status int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status[status]++
	if err != nil && len(c.errs) < 5 {
		c.errs = append(c.errs, err.Error())
	}
}

func (c *tally) failed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for s, k := range c.status {
		if s != http.StatusOK {
			n += k
		}
	}
	return n
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%v %v", c.status, c.errs)
}

// offer sends n GETs of url with the bearer token secret at rate a second,
// each at its time whether or not the ones before have been answered (an
// open model, as the bench's load), and returns their tally and the time
// between the first and the last send.
func offer(client *http.Client, url, secret string, rate, n int) (*tally, time.Duration) {
	c := &tally{status: map[int]int{}}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				c.add(0, err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := client.Do(req)
			if err != nil {
				c.add(0, err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.add(resp.StatusCode, err)
		})
	}
	spread := time.Since(start)
	wg.Wait()
	return c, spread
}

// startFleet starts a fleet of o with the bench's unlimited token and the
// limited one, for at most 2 minutes, and stops it when t ends, with the
// processes' logs if t failed.
func startFleet(t *testing.T, o fleet.Options) *fleet.Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	o.Tokens = []string{
		launch.TokenEntry("bench", launch.Token, launch.Unlimited),
		launch.TokenEntry("limited", limitedToken, fmt.Sprintf("{limit: %d, per: 1s}", limitedRate)),
	}
	f, err := fleet.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("stop the fleet: %v", err)
		}
		if t.Failed() {
			t.Logf("HAProxy's standard error:\n%s", f.HAProxy.Stderr())
			for i, gw := range f.Gateways {
				t.Logf("gateway %d's standard error:\n%s", i+1, gw.Stderr())
			}
		}
	})
	return f
}

// TestFleetBehindHAProxy runs deploy/haproxy/haproxy.cfg with real HAProxy
// in front of three gateway replicas that share a real Redis: a GET goes
// through; a token's rate limit holds for the fleet as it would for one
// replica; a replica stopped with SIGTERM (a rolling restart's step) fails
// no GET, thanks to its drain and HAProxy's checks of /readyz; a replica
// killed with SIGKILL fails at most a few, thanks to retry-on and
// redispatch.
func TestFleetBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis, HAProxy, the mock backends and three gateways")
	}
	for _, name := range []string{"haproxy", "redis-server"} {
		if _, err := fleet.Binary(name); err != nil {
			t.Fatal(err)
		}
	}
	const drainDelay = 1500 * time.Millisecond
	f := startFleet(t, fleet.Options{Replicas: 3, DrainDelay: drainDelay})
	url := f.URL() + "/v2/experiments/42"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	t.Run("GET", func(t *testing.T) {
		c, _ := offer(client, url, launch.Token, 10, 1)
		if c.failed() != 0 {
			t.Fatalf("GET %s through HAProxy: %v, want 200", url, c)
		}
	})

	t.Run("rate limit shared", func(t *testing.T) {
		// 100 a second for 2 s, ten times the token's rate: one replica
		// alone would admit its burst plus its rate over the time the
		// GETs took; three replicas that did not share the limit would
		// admit three times as many.
		c, spread := offer(client, url, limitedToken, 100, 200)
		admitted := c.status[http.StatusOK]
		want := limitedRate + limitedRate*spread.Seconds()
		t.Logf("admitted %d of 200 over %v (one replica alone: %.1f): %v", admitted, spread.Round(time.Millisecond), want, c)
		if float64(admitted) < 0.8*want || float64(admitted) > 1.2*want {
			t.Errorf("the fleet admitted %d, want %.1f ±20%%, what one replica admits", admitted, want)
		}
		if admitted+c.status[http.StatusTooManyRequests] != 200 {
			t.Errorf("answers other than 200 and 429: %v", c)
		}
	})

	// stopDuring runs 150 GETs at 50 a second and does what to one
	// replica half a second in; it returns their tally.
	stopDuring := func(gw *launch.Proc, what syscall.Signal) *tally {
		done := make(chan *tally, 1)
		go func() {
			c, _ := offer(client, url, launch.Token, 50, 150)
			done <- c
		}()
		time.Sleep(500 * time.Millisecond)
		if err := gw.Cmd.Process.Signal(what); err != nil {
			t.Fatalf("signal %v to gateway: %v", what, err)
		}
		return <-done
	}

	t.Run("SIGTERM fails nothing", func(t *testing.T) {
		gw := f.Gateways[0]
		c := stopDuring(gw, syscall.SIGTERM)
		t.Logf("GETs while a replica drained and stopped: %v", c)
		if n := c.failed(); n != 0 {
			t.Errorf("%d GETs failed while a replica drained, want 0: %v", n, c)
		}
		select {
		case <-gw.Done():
			if !gw.Cmd.ProcessState.Success() {
				t.Errorf("the stopped replica exited with %v, want 0", gw.Cmd.ProcessState)
			}
		case <-time.After(drainDelay + 15*time.Second):
			t.Error("the stopped replica is still running after its drain delay and grace period")
		}
		// HAProxy took the replica out on its /readyz 503 while it still
		// served, not on a refused connection once it had stopped (which
		// retries would hide from the GETs above).
		if down := "Server gateways/gw1 is DOWN, reason: Layer7 wrong status, code: 503"; !strings.Contains(f.HAProxy.Stderr(), down) {
			t.Errorf("HAProxy's log does not say %q by the time the replica stopped", down)
		}
	})

	t.Run("SIGKILL fails few", func(t *testing.T) {
		c := stopDuring(f.Gateways[1], syscall.SIGKILL)
		t.Logf("GETs while a replica was killed: %v", c)
		// retry-on conn-failure empty-response with redispatch sends
		// the GETs the killed replica held or refused to another one.
		if n := c.failed(); n > 2 {
			t.Errorf("%d GETs failed when a replica was killed, want at most 2: %v", n, c)
		}
	})
}
