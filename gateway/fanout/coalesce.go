package fanout

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultCacheEntries is the number of answers a call's cache holds at
// most: the least valuable go first (otter's W-TinyLFU), so that a hot set
// of paths stays while a scan of cold ones passes through.
const DefaultCacheEntries = 10_000

// Coalescer is the coalescing and caching Policy of one GET call
// (`coalesce: true`, `cache: 1s`). With coalescing, concurrent calls for
// the same path share one backend call: the first (the leader) sends it,
// through its own request's Next, in its own goroutine; the others wait for
// its answer, each until its own context ends. With a cache, a 2xx answer
// that the engine accepted (Accept) is kept for the lifetime given and
// served to later calls for the path. A shared or cached body is a copy
// that belongs to no request. A shared answer is checked by each request
// that gets it, as its own would be: one for another resource is refused
// by each, and each GET asks again (see Disowner).
//
// When the leader's call fails, what the waiters get depends on why. A
// backend's failure (unreachable, timed out, any status) is the answer of
// the backend at that moment, so every waiter gets it: sending the call
// again for each of them would hit a failing backend with the very burst
// that coalescing exists to spare it. The end of the leader's own context
// (its client gone, its deadline, its run aborted) says nothing about the
// backend, so a waiter whose context still runs sends the call again, the
// first of them as the new leader.
//
// The in-flight calls are a map under a mutex rather than
// golang.org/x/sync/singleflight: singleflight's Do does not let a waiter
// leave at its own deadline, and its DoChan runs the call in a goroutine of
// its own, which would outlive a leader that stopped waiting and touch its
// request's buffers after they were freed. It is safe for concurrent use.
type Coalescer struct {
	coalesce bool
	mu       sync.Mutex
	flights  map[string]*flight
	cache    *otter.Cache[string, answer] // nil without a cache

	coalesced, hits, misses atomic.Int64
}

// flight is a call in flight that others may wait for. Its answer, err
// and own are written by the leader before it closes done.
type flight struct {
	// done is made by the first waiter and closed by the leader; nil
	// while nobody waits, as for nearly every call, which then costs no
	// channel. Guarded by Coalescer.mu, as waiters is.
	done    chan struct{}
	waiters int
	answer  answer
	err     error
	own     bool // the leader's own context ended: waiters try again
}

// flights keeps the flights that nobody waited for, for the next leader:
// once off the map, such a flight is the leader's alone.
var flights = sync.Pool{New: func() any { return new(flight) }}

// answer is a shared answer: the status and a copy of the body.
type answer struct {
	status int
	body   []byte
}

// NewCoalescer returns the policy of a call that coalesces (coalesce) and
// caches 2xx answers for ttl (0: no cache), holding at most entries answers
// (0: DefaultCacheEntries).
func NewCoalescer(coalesce bool, ttl time.Duration, entries int) (*Coalescer, error) {
	c := &Coalescer{coalesce: coalesce, flights: map[string]*flight{}}
	if ttl > 0 {
		if entries <= 0 {
			entries = DefaultCacheEntries
		}
		cache, err := otter.New(&otter.Options[string, answer]{
			MaximumSize:      entries,
			ExpiryCalculator: otter.ExpiryWriting[string, answer](ttl),
		})
		if err != nil {
			return nil, fmt.Errorf("response cache: %w", err)
		}
		c.cache = cache
	}
	return c, nil
}

// Coalesced returns the number of calls answered by another request's call.
func (c *Coalescer) Coalesced() int64 { return c.coalesced.Load() }

// Hits returns the number of calls the cache answered.
func (c *Coalescer) Hits() int64 { return c.hits.Load() }

// Misses returns the number of calls the cache could not answer.
func (c *Coalescer) Misses() int64 { return c.misses.Load() }

// Do performs the call: from the cache, through a call in flight for the
// same path, or as the leader of a new one.
func (c *Coalescer) Do(ctx context.Context, _ *Call, path string, next Next) (int, []byte, Via, error) {
	if c.cache != nil {
		if a, ok := c.cache.GetIfPresent(path); ok {
			c.hits.Add(1)
			return a.status, a.body, ViaCache, nil
		}
		c.misses.Add(1)
	}
	if !c.coalesce {
		return next.Do(ctx, path)
	}
	for {
		c.mu.Lock()
		f, ok := c.flights[path]
		if !ok {
			f = flights.Get().(*flight)
			c.flights[path] = f
			c.mu.Unlock()
			return c.lead(ctx, f, next, path)
		}
		f.waiters++
		if f.done == nil {
			f.done = make(chan struct{})
		}
		done := f.done
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return 0, nil, ViaCall, ctx.Err()
		}
		if f.own && ctx.Err() == nil {
			continue // the leader left for a reason of its own: try again
		}
		if f.own {
			return 0, nil, ViaCall, ctx.Err()
		}
		c.coalesced.Add(1)
		return f.answer.status, f.answer.body, ViaCoalesced, f.err
	}
}

// Accept keeps a 2xx answer of the call's own attempt in the cache, if
// the call has one (see Accepter): only an answer the engine delivered,
// past its checks, is kept, so that an answer it refused (a stray answer
// for another resource, a body without a required field) is never served
// again from the cache, even to the call that asks again.
func (c *Coalescer) Accept(path string, status int, body []byte) {
	if c.cache != nil && status >= 200 && status < 300 {
		c.cache.Set(path, answer{status: status, body: bytes.Clone(body)})
	}
}

// lead sends the call of flight f for the waiters, and answers its own
// caller with its own body, which the waiters get a copy of.
func (c *Coalescer) lead(ctx context.Context, f *flight, next Next, path string) (int, []byte, Via, error) {
	status, body, via, err := next.Do(ctx, path)
	c.mu.Lock()
	delete(c.flights, path)
	waiters, done := f.waiters, f.done
	c.mu.Unlock()
	if waiters == 0 {
		flights.Put(f) // as it came: nobody waited, nothing was written
		return status, body, via, err
	}
	f.answer = answer{status: status, body: bytes.Clone(body)}
	f.err = err
	// A failure once the leader's own context is done is put down to it.
	f.own = err != nil && ctx.Err() != nil
	close(done)
	return status, body, via, err
}
