package retry

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
)

// flakyDoer fails the first `fails` attempts of each call with status or
// err, then answers 200; it counts every attempt.
type flakyDoer struct {
	status   int
	err      error
	delay    time.Duration
	attempts atomic.Int64
	perCall  bool // fail only the first attempt of every call
}

func (d *flakyDoer) Do(ctx context.Context, _, _, path string) (int, []byte, error) {
	n := d.attempts.Add(1)
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	if d.perCall && n%2 == 0 {
		return 200, []byte(`{}`), nil
	}
	if d.err != nil {
		return 0, nil, d.err
	}
	return d.status, []byte(`{}`), nil
}

// run makes one call through the engine with the retry policy drawing on
// b, as the gateway's registry binds it to a call that declares retry.
func run(t *testing.T, b *fanout.Budget, d fanout.Doer, method string, deadline time.Duration) fanout.Outcome {
	t.Helper()
	p, err := fanout.Compile("op", []fanout.CallSpec{{Name: "results", Backend: "results", Method: method, Path: "/results/1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := fanout.New(fanout.ModeConcurrent, fanout.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	pd := &fanout.PolicyDoer{Next: d, Policies: [][]fanout.Policy{{New(b)}}}
	res := ex.Execute(ctx, p, fanout.ParamMap{}, pd)
	defer res.Release()
	o := res.Outcomes[0]
	o.Body = nil
	return o
}

// primed returns a budget that holds n retries already.
func primed(t *testing.T, n int) *fanout.Budget {
	t.Helper()
	b, err := NewBudget(DefaultRatio)
	if err != nil {
		t.Fatal(err)
	}
	for range n * 10 {
		b.Deposit()
	}
	return b
}

// TestWhatIsRetried: each row is one call whose first attempt fails; the
// row says whether a second attempt is made.
func TestWhatIsRetried(t *testing.T) {
	refused := &backend.Error{Kind: backend.KindUnreachable, Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name    string
		d       *flakyDoer
		method  string
		retried bool
	}{
		{"a 503 is retried", &flakyDoer{status: 503, perCall: true}, "GET", true},
		{"a refused connection was never sent: retried", &flakyDoer{err: refused, perCall: true}, "GET", true},
		{"no free connection was never sent: retried", &flakyDoer{err: &backend.Error{Kind: backend.KindUnavailable, Err: backend.ErrUnavailable}, perCall: true}, "GET", true},
		{"a 500 may have been processed: not retried", &flakyDoer{status: 500, perCall: true}, "GET", false},
		{"a timeout may have been processed: not retried", &flakyDoer{err: &backend.Error{Kind: backend.KindTimeout, Err: errors.New("timeout")}, perCall: true}, "GET", false},
		{"a reset on the wire: not retried", &flakyDoer{err: &backend.Error{Kind: backend.KindUnreachable, Err: syscall.ECONNRESET}, perCall: true}, "GET", false},
		{"a 404 is an answer: not retried", &flakyDoer{status: 404, perCall: true}, "GET", false},
		{"a POST is never retried, even with the policy", &flakyDoer{status: 503, perCall: true}, "POST", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, primed(t, 5), tc.d, tc.method, time.Second)
			want := int64(1)
			if tc.retried {
				want = 2
			}
			if got := tc.d.attempts.Load(); got != want {
				t.Errorf("attempts %d, want %d", got, want)
			}
			if tc.retried && !o.OK() {
				t.Errorf("retried call: %+v, want the second attempt's 200", o)
			}
		})
	}
}

// TestBudgetBounds: when every call fails, retries stay within the budget's
// share of the calls.
func TestBudgetBounds(t *testing.T) {
	b, err := NewBudget(0.1)
	if err != nil {
		t.Fatal(err)
	}
	d := &flakyDoer{status: 503}
	const calls = 500
	for range calls {
		run(t, b, d, "GET", time.Second)
	}
	retries := d.attempts.Load() - calls
	if retries != b.Spent() {
		t.Errorf("attempts say %d retries, the budget %d", retries, b.Spent())
	}
	if retries > calls/10 || retries < calls/10-1 {
		t.Errorf("%d retries of %d failing calls, want about 10 %%", retries, calls)
	}
	if b.Denied() != calls-retries {
		t.Errorf("denied %d, want %d", b.Denied(), calls-retries)
	}
}

// TestNoTimeForAnother: a retry that could not finish before the deadline
// is not made.
func TestNoTimeForAnother(t *testing.T) {
	d := &flakyDoer{status: 503, delay: 60 * time.Millisecond, perCall: true}
	run(t, primed(t, 5), d, "GET", 100*time.Millisecond)
	if got := d.attempts.Load(); got != 1 {
		t.Errorf("attempts %d, want 1: 40 ms left after a 60 ms attempt", got)
	}
}

// TestNewBudget: a budget of 0 is none, which the registry takes for
// retries off (policy.TestRetryPolicyOnThePage); one beyond 1 is refused.
func TestNewBudget(t *testing.T) {
	b, err := NewBudget(0)
	if err != nil || b != nil {
		t.Fatalf("NewBudget(0) = %v, %v; want nil, nil", b, err)
	}
	if _, err := NewBudget(1.5); err == nil {
		t.Error("NewBudget(1.5) accepted")
	}
}
