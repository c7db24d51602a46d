package server_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/server"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// TestFailedRequiredCallCutsCallsInFlight: when the results backend fails
// while the layer and settings calls are on the wire to slow backends, the
// 502 goes out at once, not when those calls time out, and the backends
// stop working for nobody: the calls' connections are closed, so the mocks'
// in-flight drops to 0 at once and they count the calls as cancelled.
func TestFailedRequiredCallCutsCallsInFlight(t *testing.T) {
	const fail, slow = 200 * time.Millisecond, 3 * time.Second
	cfg := model.Config{
		"experiments": {},
		"layers":      {Latency: fixedLatency(slow)},
		"projects":    {Latency: fixedLatency(slow)},
		"results":     {Latency: fixedLatency(fail), Faults: &model.Faults{Error: 1}},
	}
	// The layer and settings calls wait at most optionalCallTimeout:
	// without the cut, the 502 came after it.
	c, r := failedResults(t, cfg)
	answered := time.Now()
	poll.Until(t, slow, "the mocks to be idle after the 502", func() bool { return inFlight(c) == 0 })
	idle := time.Since(answered)
	t.Logf("502 after %v (results fails after %v; layer and settings take %v, time out after %v); mocks idle %v later",
		r.took, fail, slow, optionalCallTimeout, idle)
	if r.took > fail+optionalCallTimeout/2 {
		t.Errorf("the 502 took %v, want it soon after results failed (%v), not after the calls in flight (%v timeout)", r.took, fail, optionalCallTimeout)
	}
	if idle > optionalCallTimeout/4 {
		t.Errorf("the mocks were busy %v after the 502, want the calls in flight cut at once (they take %v)", idle, slow)
	}
	for _, s := range []string{"layers", "projects"} {
		if st := c.Stats(s); st.Requests != 1 || st.Errors.Cancelled != 1 {
			t.Errorf("%s: %d requests, %d cancelled, want its one call sent and cancelled", s, st.Requests, st.Errors.Cancelled)
		}
	}
}

// TestClientGoneCutsCallsInFlight: clients that go away (half close, half
// reset) while every call of their results pages is on the wire to slow
// backends leave no work behind: the gateway cuts the calls, and the mocks'
// in-flight drops to 0 at once, not after the latency.
func TestClientGoneCutsCallsInFlight(t *testing.T) {
	const slow = 3 * time.Second
	c := startMocks(t, mock.Options{Config: latencies(t, map[string]string{
		"experiments": "none", "results": fmt.Sprintf("fixed:%v", slow),
		"layers": fmt.Sprintf("fixed:%v", slow), "projects": fmt.Sprintf("fixed:%v", slow),
	})})
	addr := tcpGateway(t, c, server.Limits{})
	const n = 8
	// results, layer and settings of every request are on the wire.
	left := leaveInFlight(t, addr, n, func() bool { return inFlight(c) == 3*n })
	poll.Until(t, slow, "the mocks to be idle", func() bool { return inFlight(c) == 0 })
	idle := time.Since(left)
	t.Logf("the mocks were idle %v after the clients left (their calls take %v)", idle, slow)
	if idle > slow/4 {
		t.Errorf("the mocks were busy for %v after the clients left, want the calls cut at once (they take %v)", idle, slow)
	}
	var cancelled int64
	for _, s := range []string{"layers", "projects", "results"} {
		cancelled += c.Stats(s).Errors.Cancelled
	}
	if cancelled != 3*n {
		t.Errorf("the mocks counted %d calls cancelled, want %d", cancelled, 3*n)
	}
}

// fixedLatency is the latency model of a backend that always takes d.
func fixedLatency(d time.Duration) *model.Latency {
	return &model.Latency{Kind: model.KindFixed, Value: model.Duration(d)}
}

// leaveInFlight has n clients send a results request to the gateway at
// addr and, once busy holds, go away: even ones close their connection,
// odd ones reset it. It returns when they left.
func leaveInFlight(t *testing.T, addr string, n int, busy func() bool) time.Time {
	t.Helper()
	var clients []net.Conn
	defer func() {
		for _, conn := range clients {
			_ = conn.Close()
		}
	}()
	for len(clients) < n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, conn)
		if _, err := io.WriteString(conn, resultsRequest); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "every call in flight", busy)
	for i, conn := range clients {
		if tc := conn.(*net.TCPConn); i%2 == 1 {
			_ = tc.SetLinger(0)
		}
	}
	return time.Now()
}
