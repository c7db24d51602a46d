package mock

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

// TestClientGoneStopsWaiting: clients that go away (half close, half
// reset) while their requests wait out a long latency leave no request in
// flight: the mock stops waiting at once, as a net/http backend watching
// its request's context would, and counts them as cancelled; a client that
// stays gets its answer after the latency as before.
func TestClientGoneStopsWaiting(t *testing.T) {
	const latency = 3 * time.Second
	c := start(t, Options{Seed: 1})
	if err := c.SetConfig("results", model.Service{Latency: &model.Latency{Kind: model.KindFixed, Value: model.Duration(latency)}}); err != nil {
		t.Fatal(err)
	}
	const n = 4
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conn, err := net.Dial("tcp", c.Addr("results"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn.(*net.TCPConn)
		fmt.Fprintf(conn, "GET /results/%d HTTP/1.1\r\nHost: x\r\n\r\n", i+1)
	}
	stayed := make(chan error, 1)
	stayStart := time.Now()
	go func() {
		resp, err := client.Get(url(c, "results", "/results/9"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		stayed <- err
	}()
	waitFor(t, func() bool { return c.Stats("results").InFlight == n+1 }, "every request in flight")
	left := time.Now()
	for i, conn := range conns {
		if i%2 == 1 {
			_ = conn.SetLinger(0) // a reset rather than a close
		}
		_ = conn.Close()
	}
	waitFor(t, func() bool { return c.Stats("results").InFlight == 1 }, "the requests of the clients gone to end")
	took := time.Since(left)
	t.Logf("in flight dropped %v after the clients left (latency %v)", took, latency)
	if took > latency/4 {
		t.Errorf("the requests ended %v after their clients left, want well within the latency %v", took, latency)
	}
	st := c.Stats("results")
	if st.Errors.Cancelled != n || st.Served != n {
		t.Errorf("cancelled %d, served %d, want %d of each", st.Errors.Cancelled, st.Served, n)
	}
	if err := <-stayed; err != nil {
		t.Fatalf("the client that stayed: %v", err)
	}
	if got := time.Since(stayStart); got < latency {
		t.Errorf("the client that stayed had its answer after %v, before the latency %v", got, latency)
	}
	if st := c.Stats("results"); st.Errors.Cancelled != n || st.InFlight != 0 {
		t.Errorf("after the client that stayed: cancelled %d, in flight %d", st.Errors.Cancelled, st.InFlight)
	}
}
