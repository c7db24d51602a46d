// Package store keeps the state that the gateway's replicas must agree on:
// each token's rate-limit state and the records of idempotent requests.
// Memory serves one gateway; Redis serves several, which then hold one
// limit and one set of records between them.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every error of a store that cannot be reached. What
// the gateway does then is each check's failure mode: by default a rate
// limit lets the request through unchecked, and an idempotent create gets
// 503 (the server's storefail.go).
var ErrUnavailable = errors.New("store unavailable")

// Decision is the rate limiter's verdict on one request.
type Decision struct {
	Allowed bool
	// Limit is the burst, the requests per window.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// Reset is the time until the limit is whole again (every request of
	// the burst available).
	Reset time.Duration
	// RetryAfter is, for a refused request, the time until one is allowed.
	RetryAfter time.Duration
}

// Begun says what Begin found for an idempotency key.
type Begun int

const (
	// Started: no record existed; the caller now holds the key and must
	// Finish or Abandon it.
	Started Begun = iota
	// InProgress: another attempt with the same key and body holds it.
	InProgress
	// Done: a finished record exists; Begin returns it.
	Done
	// Mismatch: a record exists for another body.
	Mismatch
	// OverQuota: no record existed, and the owner holds its quota of
	// records already; nothing was claimed.
	OverQuota
)

// Record is a finished idempotent request's response, replayed to the
// repeats of the request.
type Record struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
}

// Store is the state shared by the gateway's replicas. Implementations
// must be safe for concurrent use; errors wrap ErrUnavailable when the
// store cannot be reached.
type Store interface {
	// Allow takes one request from key's limit, a GCRA (generic cell rate
	// algorithm) of limit requests per per with bursts of limit.
	Allow(ctx context.Context, key string, limit int, per time.Duration) (Decision, error)
	// Begin claims an idempotency key for owner (a token) and a request
	// whose body hashes to sum. A claim (Started) lasts lease, long
	// enough for the request to end; the caller then Finishes or Abandons
	// it. With Done, the record is returned. Claims and records count
	// against the owner's quota, which a new claim may not pass
	// (OverQuota). The key must already be the owner's own: the store
	// does not namespace it.
	Begin(ctx context.Context, owner, key string, sum [32]byte, lease time.Duration) (Begun, Record, error)
	// Finish stores the response of owner's claimed key for ttl.
	Finish(ctx context.Context, owner, key string, sum [32]byte, r Record, ttl time.Duration) error
	// Abandon releases a claim without a record, so that a retry may run.
	Abandon(ctx context.Context, key string) error
	// Close releases the store's connections.
	Close() error
}

// gcra is the generic cell rate algorithm over a theoretical arrival time
// (tat): each request moves tat one emission interval (per/limit) on; a
// request is allowed while tat stays within the burst (per) of now. It
// returns the decision and the new tat to store (the old one if refused).
// Redis runs the same arithmetic in its script (redis.go).
//
// Start-up refuses a rate whose interval is below a nanosecond
// (auth.Rate.Check); the interval is kept at 1 ns or more all the same, so
// that a rate that slipped through costs a wrong limit, never a division
// by zero.
func gcra(now, tat time.Time, limit int, per time.Duration) (Decision, time.Time) {
	interval := max(per/time.Duration(max(limit, 1)), 1)
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	d := Decision{Limit: limit}
	if allowAt := next.Add(-per); now.Before(allowAt) {
		d.RetryAfter = allowAt.Sub(now)
		d.Reset = tat.Sub(now)
		return d, tat
	}
	d.Allowed = true
	d.Reset = next.Sub(now)
	d.Remaining = int((per - d.Reset) / interval)
	return d, next
}
