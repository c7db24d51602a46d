package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Defaults of MemoryOptions.
const (
	// DefaultMaxRecordBytes bounds the idempotency records one gateway
	// keeps in memory: about 50,000 records of a created experiment.
	DefaultMaxRecordBytes = 64 << 20
	// DefaultRecordQuota is how many idempotency records one token may
	// hold at once, in either store: a day of a create every 9 seconds.
	DefaultRecordQuota = 10000
)

// recordOverhead is what a record costs beyond its key, body and headers
// (the entry, its claim, the map and the cache's own bookkeeping), in
// bytes, so that many small records weigh what they take.
const recordOverhead = 256

// MemoryOptions configure a Memory store. The zero value takes the
// defaults.
type MemoryOptions struct {
	// MaxRecordBytes bounds the bytes of the idempotency records kept; if
	// 0, DefaultMaxRecordBytes. Past it, the records least likely to be
	// asked for again are evicted (otter's W-TinyLFU), and counted.
	MaxRecordBytes int64
	// RecordQuota is how many records one owner (token) may hold; if 0,
	// DefaultRecordQuota. A claim beyond it is refused (OverQuota).
	RecordQuota int
}

// Memory is a Store in the process's memory: one gateway's. The zero
// value is not usable; call NewMemory. It is safe for concurrent use.
//
// The records live in a bounded cache (otter) weighed in bytes, which
// expires each record on its own, incrementally, through its timer wheel:
// no sweep of every record ever holds a lock. The rate limits are one per
// token, few, and stay in a map under a mutex.
type Memory struct {
	mu   sync.Mutex
	tats map[string]time.Time
	// now is the clock of the rate limits, replaced by tests.
	now func() time.Time
	// sweeps counts calls, to drop whole limits now and then rather than
	// on every call.
	sweeps int

	records *otter.Cache[string, *memRecord]
	quota   int64
	// owners counts each owner's records: *atomic.Int64 by owner. An
	// owner is a token, so the map is as small as the tokens file.
	owners  sync.Map
	evicted atomic.Int64
}

type memRecord struct {
	owner string
	sum   [32]byte
	done  bool
	rec   Record
	ttl   time.Duration
}

// sweepEvery is how many calls pass between two sweeps of the limits that
// are whole again: often enough to bound the memory, rarely enough to cost
// nothing per call.
const sweepEvery = 4096

// NewMemory returns an empty in-memory store.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if opts.MaxRecordBytes == 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.RecordQuota == 0 {
		opts.RecordQuota = DefaultRecordQuota
	}
	if opts.MaxRecordBytes < 0 || opts.RecordQuota < 0 {
		return nil, fmt.Errorf("memory store: max record bytes %d and record quota %d, want positive", opts.MaxRecordBytes, opts.RecordQuota)
	}
	m := &Memory{tats: map[string]time.Time{}, now: time.Now, quota: int64(opts.RecordQuota)}
	c, err := otter.New(&otter.Options[string, *memRecord]{
		MaximumWeight: uint64(opts.MaxRecordBytes),
		Weigher:       weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *memRecord]) time.Duration {
			return e.Value.ttl
		}),
		// Under the bucket's lock: it touches only the counters.
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *memRecord]) {
			if e.Cause == otter.CauseReplacement {
				return
			}
			m.count(e.Value.owner).Add(-1)
			if e.Cause == otter.CauseOverflow {
				m.evicted.Add(1)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("memory store: %w", err)
	}
	m.records = c
	return m, nil
}

// weigh is a record's weight in bytes.
func weigh(key string, r *memRecord) uint32 {
	n := recordOverhead + len(key) + len(r.owner) + len(r.rec.Body)
	for k, v := range r.rec.Headers {
		n += len(k) + len(v)
	}
	return uint32(n)
}

// count returns owner's counter of records.
func (m *Memory) count(owner string) *atomic.Int64 {
	if c, ok := m.owners.Load(owner); ok {
		return c.(*atomic.Int64)
	}
	c, _ := m.owners.LoadOrStore(owner, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// Allow implements Store.
func (m *Memory) Allow(_ context.Context, key string, limit int, per time.Duration) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	d, tat := gcra(now, m.tats[key], limit, per)
	m.tats[key] = tat
	return d, nil
}

// Begin implements Store.
func (m *Memory) Begin(_ context.Context, owner, key string, sum [32]byte, lease time.Duration) (Begun, Record, error) {
	begun, rec := Started, Record{}
	m.records.Compute(key, func(old *memRecord, found bool) (*memRecord, otter.ComputeOp) {
		switch {
		case found && old.sum != sum:
			begun = Mismatch
		case found && !old.done:
			begun = InProgress
		case found:
			begun, rec = Done, old.rec
		default:
			// Counted before it is written, so that concurrent claims
			// of one owner never pass the quota together.
			if c := m.count(owner); c.Add(1) > m.quota {
				c.Add(-1)
				begun = OverQuota
				return nil, otter.CancelOp
			}
			return &memRecord{owner: owner, sum: sum, ttl: lease}, otter.WriteOp
		}
		return old, otter.CancelOp
	})
	return begun, rec, nil
}

// Finish implements Store.
func (m *Memory) Finish(_ context.Context, owner, key string, sum [32]byte, r Record, ttl time.Duration) error {
	m.records.Compute(key, func(_ *memRecord, found bool) (*memRecord, otter.ComputeOp) {
		if !found {
			// The claim lapsed meanwhile: the record counts anew, past
			// the quota if need be, since the create is done.
			m.count(owner).Add(1)
		}
		return &memRecord{owner: owner, sum: sum, done: true, rec: r, ttl: ttl}, otter.WriteOp
	})
	return nil
}

// Abandon implements Store.
func (m *Memory) Abandon(_ context.Context, key string) error {
	m.records.ComputeIfPresent(key, func(old *memRecord) (*memRecord, otter.ComputeOp) {
		if old.done {
			return old, otter.CancelOp
		}
		return nil, otter.InvalidateOp
	})
	return nil
}

// MemoryStats describe a Memory store's records, for the metrics.
type MemoryStats struct {
	Records int    // records and claims held
	Bytes   uint64 // their weight
	Evicted int64  // records evicted to stay within MaxRecordBytes, ever
}

// Stats returns the store's figures. They are estimates, as the cache's
// own are, and safe to read concurrently.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{Records: m.records.EstimatedSize(), Bytes: m.records.WeightedSize(), Evicted: m.evicted.Load()}
}

// Close implements Store; memory holds no connections, and the cache's
// goroutines stop.
func (m *Memory) Close() error {
	m.records.StopAllGoroutines()
	return nil
}

// sweep drops, every sweepEvery calls, the limits that are whole again
// (a tat in the past is as good as none). m.mu is held.
func (m *Memory) sweep(now time.Time) {
	m.sweeps++
	if m.sweeps < sweepEvery {
		return
	}
	m.sweeps = 0
	for k, tat := range m.tats {
		if tat.Before(now) {
			delete(m.tats, k)
		}
	}
}
