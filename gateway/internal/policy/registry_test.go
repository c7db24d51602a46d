package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/breaker"
	"fanout/gateway/internal/policy"
	"fanout/gateway/internal/spec"
)

// metricsBook records the series the policies register, by name and labels.
type metricsBook struct {
	mu     sync.Mutex
	series map[string]func() float64
}

func (m *metricsBook) CounterFunc(name, labels string, f func() float64) { m.add(name, labels, f) }
func (m *metricsBook) Gauge(name, labels string, f func() float64)       { m.add(name, labels, f) }

func (m *metricsBook) add(name, labels string, f func() float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series == nil {
		m.series = map[string]func() float64{}
	}
	m.series[name+"{"+labels+"}"] = f
}

// value returns the series' value, and false if it was never registered.
func (m *metricsBook) value(series string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.series[series]
	if !ok {
		return 0, false
	}
	return f(), true
}

// document returns the shipped document with its first old replaced by
// new; an old that is not in it fails the test, which would prove nothing.
func document(t *testing.T, old, new string) *spec.Spec {
	t.Helper()
	b, err := os.ReadFile("../../assembly/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), old, new, 1)
	if old != "" && doc == string(b) {
		t.Fatalf("edit %q changed nothing", old)
	}
	s, err := spec.Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// resultsCall is the line after which the results page's results call
// declares its policies in the shipped document.
const resultsCall = "            allow_not_found: true\n"

// TestShippedOrder checks the policies the shipped results page gets, by
// call and outermost first: the hedge, then the retry, then the breaker on
// the results call; coalescing, then the breaker, on the experiment call;
// the breaker alone on the others. Without breakers and retries, and with
// coalescing off, only the hedge is left.
func TestShippedOrder(t *testing.T) {
	op := document(t, "", "").Operation("getExperimentResults")
	set, err := breaker.New([]string{"experiments", "layers", "projects", "results"}, breaker.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		settings policy.Settings
		want     map[string]string // call name: its policies' types, outermost first
	}{
		{"all on", policy.Settings{HedgeBudget: 0.05, RetryBudget: 0.1, Breakers: set}, map[string]string{
			"experiment": "*fanout.Coalescer *breaker.Set",
			"layer":      "*breaker.Set",
			"project":    "*breaker.Set",
			"settings":   "*breaker.Set",
			"results":    "*fanout.Hedger *retry.Policy *breaker.Set",
		}},
		{"all off but hedging", policy.Settings{HedgeBudget: 0.05, NoCoalesce: true}, map[string]string{
			"results": "*fanout.Hedger",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := newSet(t, tc.settings, nil).For(op.ID, op.Plan.Calls())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range op.Plan.Calls() {
				var types []string
				if ps != nil {
					for _, p := range ps[c.Index] {
						types = append(types, fmt.Sprintf("%T", p))
					}
				}
				if got := strings.Join(types, " "); got != tc.want[c.Spec.Name] {
					t.Errorf("call %s: policies %q, want %q", c.Spec.Name, got, tc.want[c.Spec.Name])
				}
			}
		})
	}
}

func newSet(t *testing.T, s policy.Settings, m *metricsBook) *policy.Set {
	t.Helper()
	if m == nil {
		m = &metricsBook{}
	}
	set, err := policy.New(policy.Env{Settings: s, Backends: []string{"experiments", "layers", "projects", "results"}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestMetricNames checks that each policy registers its series under the
// names the alerts and dashboards read: per call for a hedge and a
// coalescer, process-wide for the budgets, per backend for the breakers;
// and none for retries while the retry budget is 0.
func TestMetricNames(t *testing.T) {
	op := document(t, "", "").Operation("getExperimentResults")
	set, err := breaker.New([]string{"results"}, breaker.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		settings policy.Settings
		present  []string
		absent   []string
	}{
		{policy.Settings{HedgeBudget: 0.05, RetryBudget: 0.1, Breakers: set}, []string{
			`fanout_hedges_sent_total{operation="getExperimentResults",call="results"}`,
			`fanout_hedges_won_total{operation="getExperimentResults",call="results"}`,
			`fanout_coalesced_calls_total{operation="getExperimentResults",call="experiment"}`,
			`fanout_hedges_denied_total{}`,
			`fanout_retries_total{}`,
			`fanout_retries_denied_total{}`,
			`fanout_breaker_state{backend="results"}`,
			`fanout_breaker_refused_total{backend="results"}`,
			`fanout_breaker_transitions_total{backend="results",from="closed",to="open"}`,
		}, nil},
		{policy.Settings{}, []string{`fanout_hedges_denied_total{}`}, []string{`fanout_retries_total{}`, `fanout_breaker_state{backend="results"}`}},
	} {
		m := &metricsBook{}
		if _, err := newSet(t, tc.settings, m).For(op.ID, op.Plan.Calls()); err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.present {
			if _, ok := m.value(s); !ok {
				t.Errorf("%+v: no series %s", tc.settings, s)
			}
		}
		for _, s := range tc.absent {
			if _, ok := m.value(s); ok {
				t.Errorf("%+v: series %s, want none", tc.settings, s)
			}
		}
	}
}

// TestOneAnsweringPolicy checks that a call declaring two policies that
// each may answer it otherwise than by its own attempt is refused, naming
// the operation, the call and both keys.
func TestOneAnsweringPolicy(t *testing.T) {
	op := document(t, resultsCall+"            hedge: {after: p95, max: 1}\n", resultsCall+"            hedge: {after: p95, max: 1}\n            cache: 1s\n").Operation("getExperimentResults")
	_, err := newSet(t, policy.Settings{HedgeBudget: 0.05}, nil).For(op.ID, op.Plan.Calls())
	if err == nil || !strings.Contains(err.Error(), `operation getExperimentResults: call "results": hedge and cache on one call are not supported`) {
		t.Errorf("err %v, want the hedge and the cache of the results call refused", err)
	}
}

// TestDecode checks each key's own decoding: a value of the wrong type
// and a policy on a call that is not a GET are refused, naming the key;
// a policy declared off is no declaration.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		key, raw, method string
		want             string // "" for a valid declaration
		declared         bool
	}{
		{"retry", `true`, "GET", "", true},
		{"retry", `false`, "GET", "", false}, // off: nothing to build
		{"retry", `"yes"`, "GET", "retry: want true or false", false},
		{"retry", `true`, "POST", "retry: only a GET call may be retried, not POST", false},
		{"coalesce", `true`, "", "", true}, // an empty method is a GET
		{"coalesce", `1`, "GET", "coalesce: want true or false", false},
		{"cache", `"0s"`, "GET", `cache "0s": not a positive duration`, false},
		{"cache", `"1s"`, "PUT", "cache: only the answers of GET calls", false},
		{"hedge", `{"after": "p95"}`, "GET", "", true},
		{"hedge", `{"after": "p95"}`, "DELETE", "only GET calls may be hedged", false},
		{"hedge", `{"after": "30ms", "tries": 2}`, "GET", `hedge: json: unknown field "tries"`, false},
		{"stamp", `true`, "GET", `unknown policy "stamp"`, false},
	} {
		s := fanout.CallSpec{Name: "results", Method: tc.method}
		err := policy.Decode(tc.key, json.RawMessage(tc.raw), &s)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %s on %s: %v", tc.key, tc.raw, tc.method, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %s on %s: error %v, want %q", tc.key, tc.raw, tc.method, err, tc.want)
		}
		if _, ok := s.Policies[tc.key]; ok != tc.declared {
			t.Errorf("%s: %s on %s: declared %v, want %v", tc.key, tc.raw, tc.method, ok, tc.declared)
		}
	}
}

// TestRetryBudgetChecked checks that a retry budget out of range fails the
// making of the policies, as a hedge budget does.
func TestRetryBudgetChecked(t *testing.T) {
	for _, s := range []policy.Settings{{RetryBudget: 1.5}, {HedgeBudget: -0.1}} {
		if _, err := policy.New(policy.Env{Settings: s, Metrics: &metricsBook{}}); err == nil || !strings.Contains(err.Error(), "budget") {
			t.Errorf("%+v: err %v, want the budget refused", s, err)
		}
	}
}

// stamp is a policy that exists only in this test, to show that a new
// policy is one Entry: `stamp: NAME` on a call makes every attempt of the
// call carry NAME in its context, and counts the calls stamped.
type stamp struct {
	name  string
	calls atomic.Int64
}

type stampKey struct{}

func (p *stamp) Do(ctx context.Context, c *fanout.Call, path string, next fanout.Next) (int, []byte, fanout.Via, error) {
	p.calls.Add(1)
	return next.Do(context.WithValue(ctx, stampKey{}, p.name), path)
}

var stampEntry = policy.Entry{
	Keys: []string{"stamp"},
	Decode: func(_ string, raw json.RawMessage, s *fanout.CallSpec) (any, error) {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil || name == "" {
			return nil, fmt.Errorf("stamp: want a name")
		}
		return name, nil
	},
	New: func(env *policy.Env) (policy.Build, error) {
		return func(s *fanout.CallSpec, labels string) (fanout.Policy, error) {
			name, ok := s.Policies["stamp"].(string)
			if !ok {
				return nil, nil
			}
			p := &stamp{name: name}
			env.Metrics.CounterFunc("fanout_stamped_calls_total", labels, func() float64 { return float64(p.calls.Load()) })
			return p, nil
		}, nil
	},
}

// stampReader answers every call 200 with the stamp its context carries
// in the body, and an empty object when it carries none.
type stampReader struct{}

func (stampReader) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	if name, ok := ctx.Value(stampKey{}).(string); ok {
		return 200, []byte(`{"stamp":"` + name + `"}`), nil
	}
	return 200, []byte(`{}`), nil
}

// TestNewPolicyIsOneEntry: a policy that only this test knows, put in the
// table as a line of it would be, is declared in the document like the
// shipped ones, decoded and checked by the document's loading, built for
// the operation with its metric, and applied by the engine to the call
// that declares it and to no other, behind the shipped policies.
func TestNewPolicyIsOneEntry(t *testing.T) {
	policy.Add(t, stampEntry)
	op := document(t, resultsCall+"            hedge: {after: p95, max: 1}\n", resultsCall+"            hedge: {after: p95, max: 1}\n            stamp: page\n").Operation("getExperimentResults")
	m := &metricsBook{}
	ps, err := newSet(t, policy.Settings{HedgeBudget: 0.05, RetryBudget: 0.1}, m).For(op.ID, op.Plan.Calls())
	if err != nil {
		t.Fatal(err)
	}
	ex, err := fanout.New(fanout.ModeConcurrent, fanout.Options{RunAll: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res := ex.Execute(ctx, op.Plan, fanout.ParamMap{"experiment_id": "42"}, &fanout.PolicyDoer{Next: stampReader{}, Policies: ps})
	defer res.Release()
	for _, c := range op.Plan.Calls() {
		o := res.Outcomes[c.Index]
		stamped := strings.Contains(string(o.Body), `"stamp":"page"`)
		if o.Sent && stamped != (c.Spec.Name == "results") {
			t.Errorf("call %s: body %s: stamped %v", c.Spec.Name, o.Body, stamped)
		}
	}
	if o := res.Outcomes[op.Plan.Index("results")]; !o.Sent {
		t.Fatalf("results call not sent: %+v", o)
	}
	if v, ok := m.value(`fanout_stamped_calls_total{operation="getExperimentResults",call="results"}`); !ok || v != 1 {
		t.Errorf("stamped calls %v (registered %v), want 1", v, ok)
	}
	// Its own decoding refuses a bad declaration at the document's load.
	b, _ := os.ReadFile("../../assembly/openapi.yaml")
	bad := strings.Replace(string(b), resultsCall, resultsCall+"            stamp: 7\n", 1)
	if _, err := spec.Load([]byte(bad)); err == nil || !strings.Contains(err.Error(), `calls[3] "results": stamp: want a name`) {
		t.Errorf("bad stamp: err %v, want it refused naming the call", err)
	}
}

// TestRetryPolicyOnThePage: the registry binds the retry policy to the
// results call, which declares retry, when the budget allows retries: its
// failed first attempt is made again. With a budget of 0, and on the
// experiments call, which does not declare retry, there is no second
// attempt.
func TestRetryPolicyOnThePage(t *testing.T) {
	op := document(t, "", "").Operation("getExperimentResults")
	for _, tc := range []struct {
		name     string
		budget   float64
		backend  string
		attempts int64
		retries  float64
	}{
		{"results declares retry", 1, "results", 2, 1},
		{"a budget of 0 retries nothing", 0, "results", 1, 0},
		{"experiments does not declare retry", 1, "experiments", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metricsBook{}
			ps, err := newSet(t, policy.Settings{RetryBudget: tc.budget}, m).For(op.ID, op.Plan.Calls())
			if err != nil {
				t.Fatal(err)
			}
			var failing atomic.Int64
			d := fanout.DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
				if backend == tc.backend && failing.Add(1) == 1 {
					return 503, nil, nil
				}
				return 200, []byte(`{}`), nil
			})
			ex, err := fanout.New(fanout.ModeConcurrent, fanout.Options{RunAll: true})
			if err != nil {
				t.Fatal(err)
			}
			res := ex.Execute(t.Context(), op.Plan, fanout.ParamMap{"experiment_id": "42"}, &fanout.PolicyDoer{Next: d, Policies: ps})
			defer res.Release()
			if n := failing.Load(); n != tc.attempts {
				t.Errorf("%s backend saw %d attempts, want %d", tc.backend, n, tc.attempts)
			}
			if v, _ := m.value(`fanout_retries_total{}`); v != tc.retries {
				t.Errorf("retries %v, want %v", v, tc.retries)
			}
		})
	}
}
