// Package policy is the gateway's one table of the policies on a backend
// call's path: each is found by its x-fanout key, decodes and checks its
// own declaration, builds its fanout.Policy, and registers its own metrics.
// The server asks a Set for the policies of an operation's calls and knows
// none of them by name; the engine applies them (fanout.PolicyDoer).
//
// Adding a policy is one file (its Entry and its fanout.Policy) and one
// line in table.
package policy

import (
	"encoding/json"
	"fmt"
	"slices"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/breaker"
)

// table is every policy the gateway knows, in the order they wrap a call:
// the first outermost. A policy that may answer without the call's own
// attempt (hedge, coalesce, cache) comes before those that act on each
// attempt (retry, breaker), so that a duplicate or a shared call is
// retried and passes the breaker as any call does.
var table = []Entry{
	hedgeEntry,
	coalesceEntry,
	retryEntry,
	breakerEntry,
}

// An Entry is one policy of the table.
type Entry struct {
	// Keys are the x-fanout keys of a call that declare the policy; none
	// for a policy of every call, which its settings turn on.
	Keys []string
	// Decode reads the value of one of Keys, as JSON, for the call s
	// (whose Method is upper case, "" for GET), strictly, checks it
	// against the call, and returns the declaration kept in
	// s.Policies[key]. Its errors name the key.
	Decode func(key string, raw json.RawMessage, s *fanout.CallSpec) (any, error)
	// Exclusive says the policy may answer a call otherwise than by the
	// call's own attempt (a duplicate, a shared or a cached answer) and
	// counts how: a call declares one such policy at most, as each would
	// count the other's answers as its own.
	Exclusive bool
	// New makes the policy's process-wide part from env (a budget, the
	// breakers), registers its process-wide metrics, and returns what
	// builds the policy of one call.
	New func(env *Env) (Build, error)
}

// Build returns the policy of call s, from its declarations
// (s.Policies), or nil if s does not have it. labels are the call's
// metric labels (its operation and name), for the policy's counters.
type Build func(s *fanout.CallSpec, labels string) (fanout.Policy, error)

// Settings are the process-wide side of the policies, from the gateway's
// flags and config. The zero value turns every one of them off.
type Settings struct {
	// HedgeBudget is the fraction of hedged calls that may get a duplicate
	// (0.05 for 5 %), shared by every hedged call. If 0, none is sent:
	// hedging is off whatever the document declares.
	HedgeBudget float64
	// RetryBudget is the fraction of the calls declaring retry that may
	// be retried, shared by them all. If 0, none is.
	RetryBudget float64
	// NoCoalesce turns the calls' coalescing and caching off, whatever
	// the document declares, to compare with them.
	NoCoalesce bool
	// Breakers, if not nil, keep a circuit breaker per backend, which
	// every call passes.
	Breakers *breaker.Set
}

// Metrics is where the policies register their series: the gateway's
// metrics.
type Metrics interface {
	CounterFunc(name, labels string, f func() float64)
	Gauge(name, labels string, f func() float64)
}

// Env is what an Entry's New gets: the settings, the backends' names (for
// per-backend series) and the metrics.
type Env struct {
	Settings
	Backends []string
	Metrics  Metrics
}

// Set is the table's policies made for one gateway process. It is safe
// for concurrent use once made.
type Set struct {
	builds []Build // parallel to table
}

// New makes every policy's process-wide part: its budget or breakers and
// its metrics.
func New(env Env) (*Set, error) {
	s := &Set{builds: make([]Build, len(table))}
	for i := range table {
		b, err := table[i].New(&env)
		if err != nil {
			return nil, err
		}
		s.builds[i] = b
	}
	return s, nil
}

// For returns the policies of each call of operation op, by call index,
// outermost first; nil if no call has any. The policies live as long as
// the Set's process: a learned hedging delay, the calls in flight, a
// cache are shared by every request.
func (s *Set) For(op string, calls []fanout.Call) ([][]fanout.Policy, error) {
	var out [][]fanout.Policy
	for _, c := range calls {
		if err := exclusive(&c.Spec); err != nil {
			return nil, fmt.Errorf("operation %s: call %q: %w", op, c.Spec.Name, err)
		}
		labels := fmt.Sprintf("operation=%q,call=%q", op, c.Spec.Name)
		for _, build := range s.builds {
			p, err := build(&c.Spec, labels)
			if err != nil {
				return nil, fmt.Errorf("operation %s: call %q: %w", op, c.Spec.Name, err)
			}
			if p == nil {
				continue
			}
			if out == nil {
				out = make([][]fanout.Policy, len(calls))
			}
			out[c.Index] = append(out[c.Index], p)
		}
	}
	return out, nil
}

// exclusive refuses a call that declares two Exclusive policies.
func exclusive(s *fanout.CallSpec) error {
	var first string
	for i := range table {
		e := &table[i]
		if !e.Exclusive {
			continue
		}
		if k, ok := declared(e, s); ok {
			if first != "" {
				return fmt.Errorf("%s and %s on one call are not supported: each would count the other's answers as its own", first, k)
			}
			first = k
		}
	}
	return nil
}

// declared returns the first of e's keys that s declares.
func declared(e *Entry, s *fanout.CallSpec) (string, bool) {
	for _, k := range e.Keys {
		if _, ok := s.Policies[k]; ok {
			return k, true
		}
	}
	return "", false
}

// Known reports whether key is a policy's x-fanout key.
func Known(key string) bool {
	return slices.ContainsFunc(table, func(e Entry) bool { return slices.Contains(e.Keys, key) })
}

// Decode reads the declaration of the policy of x-fanout key, whose value
// is raw (JSON), for call s, into s.Policies. The policy's decoding is
// strict and checks the declaration against the call.
func Decode(key string, raw json.RawMessage, s *fanout.CallSpec) error {
	for i := range table {
		if !slices.Contains(table[i].Keys, key) {
			continue
		}
		v, err := table[i].Decode(key, raw, s)
		if err != nil {
			return err
		}
		if v == nil {
			return nil // declared off, such as coalesce: false
		}
		if s.Policies == nil {
			s.Policies = map[string]any{}
		}
		s.Policies[key] = v
		return nil
	}
	return fmt.Errorf("unknown policy %q", key)
}

// decodeOn reads the value of a key that is true or false: true on a call
// that is not a GET is refused, saying notGet; false is no declaration.
func decodeOn(key string, raw json.RawMessage, s *fanout.CallSpec, notGet string) (any, error) {
	var on bool
	if err := json.Unmarshal(raw, &on); err != nil {
		return nil, fmt.Errorf("%s: want true or false: %w", key, err)
	}
	if !on {
		return nil, nil
	}
	if !isGet(s) {
		return nil, fmt.Errorf("%s: %s, not %s", key, notGet, methodOf(s))
	}
	return true, nil
}

// isGet reports whether s is a GET call; an empty method is one.
func isGet(s *fanout.CallSpec) bool { return s.Method == "" || s.Method == "GET" }

// methodOf names s's method for errors.
func methodOf(s *fanout.CallSpec) string {
	if s.Method == "" {
		return "GET"
	}
	return s.Method
}
