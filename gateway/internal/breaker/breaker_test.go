package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/poll"
)

// scriptedDoer answers every call with status and err, and counts the
// calls that reached it.
type scriptedDoer struct {
	status atomic.Int64
	err    atomic.Pointer[error]
	calls  atomic.Int64
}

func (d *scriptedDoer) set(status int, err error) {
	d.status.Store(int64(status))
	d.err.Store(&err)
}

func (d *scriptedDoer) Do(context.Context, string, string, string) (int, []byte, error) {
	d.calls.Add(1)
	var err error
	if p := d.err.Load(); p != nil {
		err = *p
	}
	if err != nil {
		return 0, nil, err
	}
	return int(d.status.Load()), []byte("{}"), nil
}

func newSet(t *testing.T, s Settings) (*Set, *[]Transition) {
	t.Helper()
	var seen []Transition
	set, err := New([]string{"results"}, s, func(tr Transition) { seen = append(seen, tr) })
	if err != nil {
		t.Fatal(err)
	}
	return set, &seen
}

func call(set *Set, d fanout.Doer) (int, error) {
	return callTo(set, d, "results")
}

// callTo makes one GET call to backendName through set, as the engine does.
func callTo(set *Set, d fanout.Doer, backendName string) (int, error) {
	c := &fanout.Call{Spec: fanout.CallSpec{Name: backendName, Backend: backendName, Method: "GET"}}
	status, _, _, err := set.Do(context.Background(), c, "/x", fanout.Chain(c, d))
	return status, err
}

var unreachable = &backend.Error{Kind: backend.KindUnreachable, Backend: "results", Addr: "127.0.0.1:1", Err: errors.New("connection refused")}

// TestTransitions walks one breaker through its life: consecutive faults
// open it, an open breaker refuses without calling the backend, after the
// open time one probe goes through while the others are refused, a failed
// probe opens it again, and a good probe closes it.
func TestTransitions(t *testing.T) {
	set, seen := newSet(t, Settings{Failures: 3, Open: 50 * time.Millisecond, Probes: 1})
	d := &scriptedDoer{}
	d.set(0, unreachable)
	for i := range 3 {
		if set.State("results") != Closed {
			t.Fatalf("open after %d faults, want 3", i)
		}
		if _, err := call(set, d); backend.KindOf(err) != backend.KindUnreachable {
			t.Fatalf("fault %d: err %v, want the backend's own", i, err)
		}
	}
	if got := set.State("results"); got != Open {
		t.Fatalf("after 3 faults: %v, want open", got)
	}
	before := d.calls.Load()
	_, err := call(set, d)
	if backend.KindOf(err) != backend.KindCircuitOpen || !errors.Is(err, ErrOpen) {
		t.Fatalf("open: err %v, want circuit_open", err)
	}
	if d.calls.Load() != before {
		t.Fatal("an open breaker let a call reach the backend")
	}

	// Half-open: a failed probe opens it again.
	poll.Until(t, 5*time.Second, "half-open", func() bool { return set.State("results") == HalfOpen })
	if _, err := call(set, d); backend.KindOf(err) != backend.KindUnreachable {
		t.Fatalf("probe: err %v, want it sent", err)
	}
	if got := set.State("results"); got != Open {
		t.Fatalf("after a failed probe: %v, want open", got)
	}

	// Half-open again: the probe succeeds and closes it; the backend is
	// used again as before.
	poll.Until(t, 5*time.Second, "half-open", func() bool { return set.State("results") == HalfOpen })
	d.set(200, nil)
	if status, err := call(set, d); err != nil || status != 200 {
		t.Fatalf("probe: %d %v", status, err)
	}
	if got := set.State("results"); got != Closed {
		t.Fatalf("after a good probe: %v, want closed", got)
	}
	want := []Transition{
		{"results", Closed, Open}, {"results", Open, HalfOpen}, {"results", HalfOpen, Open},
		{"results", Open, HalfOpen}, {"results", HalfOpen, Closed},
	}
	if fmt.Sprint(*seen) != fmt.Sprint(want) {
		t.Errorf("transitions %v, want %v", *seen, want)
	}
	if n := set.Transitions("results", Closed, Open); n != 1 {
		t.Errorf("closed->open counted %d times, want 1", n)
	}
	if n := set.Refused("results"); n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
}

// TestProbesLimited: a half-open breaker lets Probes calls through at once
// and refuses the others until they answer.
func TestProbesLimited(t *testing.T) {
	set, _ := newSet(t, Settings{Failures: 1, Open: 20 * time.Millisecond, Probes: 2})
	d := &scriptedDoer{}
	d.set(503, nil)
	call(set, d)
	poll.Until(t, 5*time.Second, "half-open", func() bool { return set.State("results") == HalfOpen })
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	slow := fanout.DoerFunc(func(context.Context, string, string, string) (int, []byte, error) {
		entered <- struct{}{}
		<-release
		return 200, nil, nil
	})
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := call(set, slow); done <- err }()
	}
	<-entered
	<-entered
	if _, err := call(set, slow); !errors.Is(err, ErrOpen) {
		t.Errorf("third call while two probes are out: err %v, want refused", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("probe: %v", err)
		}
	}
	if got := set.State("results"); got != Closed {
		t.Errorf("after two good probes: %v, want closed", got)
	}
}

// TestWhatCounts: only the backend's faults count. Each row's answer is
// given Failures times in a row; the row says whether that opens it.
func TestWhatCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		err    error
		opens  bool
	}{
		{"5xx is a fault", 500, nil, true},
		{"503 is a fault", 503, nil, true},
		{"unreachable is a fault", 0, unreachable, true},
		{"a timeout is a fault", 0, &backend.Error{Kind: backend.KindTimeout, Err: context.DeadlineExceeded}, true},
		{"the request's deadline is a timeout", 0, context.DeadlineExceeded, true},
		{"404 is a healthy answer", 404, nil, false},
		{"429 is a healthy answer", 429, nil, false},
		{"a cancelled call is not the backend's doing", 0, &backend.Error{Kind: backend.KindCancelled, Err: context.Canceled}, false},
		{"an aborted call neither", 0, &fanout.AbortError{Call: "experiment", Err: context.Canceled}, false},
		{"no free connection neither: never sent", 0, &backend.Error{Kind: backend.KindUnavailable, Err: backend.ErrUnavailable}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := newSet(t, Settings{Failures: 3, Open: time.Minute})
			d := &scriptedDoer{}
			d.set(tc.status, tc.err)
			for range 5 {
				call(set, d)
			}
			if got := set.State("results") == Open; got != tc.opens {
				t.Errorf("open: %v, want %v", got, tc.opens)
			}
		})
	}
}

// TestFailureRate: a breaker opens on the share of faults in its window,
// even when they never come in a row, but not before MinCalls calls.
func TestFailureRate(t *testing.T) {
	set, _ := newSet(t, Settings{Failures: 100, FailureRate: 0.5, MinCalls: 10, Open: time.Minute})
	good, bad := &scriptedDoer{}, &scriptedDoer{}
	good.set(200, nil)
	bad.set(502, nil)
	for i := range 9 {
		d := good
		if i%2 == 0 {
			d = bad
		}
		call(set, d)
	}
	if got := set.State("results"); got != Closed {
		t.Fatalf("after 9 calls, 5 of them faults: %v, want closed (too few calls)", got)
	}
	call(set, good)
	call(set, bad)
	if got := set.State("results"); got != Open {
		t.Errorf("after 11 calls, 6 of them faults: %v, want open", got)
	}
}

// TestUnknownBackend passes a call to a backend without a breaker through.
func TestUnknownBackend(t *testing.T) {
	set, _ := newSet(t, Settings{})
	d := &scriptedDoer{}
	d.set(200, nil)
	if status, err := callTo(set, d, "other"); status != 200 || err != nil {
		t.Errorf("%d %v", status, err)
	}
}

// TestValidate refuses thresholds out of range.
func TestValidate(t *testing.T) {
	for _, s := range []Settings{{FailureRate: 1.5}, {FailureRate: -0.1}, {Open: -time.Second}, {Window: -time.Second}} {
		if _, err := New([]string{"a"}, s, nil); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// TestAdmits: a closed breaker admits, an open one does not, and a
// half-open one admits only while a probe is free.
func TestAdmits(t *testing.T) {
	set, _ := newSet(t, Settings{Failures: 1, Open: 20 * time.Millisecond, Probes: 1})
	if !set.Admits("results") || !set.Admits("unknown") {
		t.Fatal("a closed breaker refuses")
	}
	d := &scriptedDoer{}
	d.set(500, nil)
	call(set, d)
	if set.Admits("results") {
		t.Fatal("an open breaker admits")
	}
	poll.Until(t, 5*time.Second, "half-open", func() bool { return set.State("results") == HalfOpen })
	if !set.Admits("results") {
		t.Fatal("a half-open breaker with its probe free refuses")
	}
	release, entered := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		call(set, fanout.DoerFunc(func(context.Context, string, string, string) (int, []byte, error) {
			close(entered)
			<-release
			return 200, nil, nil
		}))
	}()
	<-entered
	if set.Admits("results") {
		t.Error("a half-open breaker with its probe out admits")
	}
	close(release)
	<-done
	if !set.Admits("results") {
		t.Error("closed again after a good probe, yet refuses")
	}
}
