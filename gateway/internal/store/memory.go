package store

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in the process's memory: one gateway's. The zero
// value is not usable; call NewMemory. It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	tats    map[string]time.Time
	records map[string]*memRecord
	// now is the clock, replaced by tests.
	now func() time.Time
	// sweeps counts calls, to drop expired entries now and then rather
	// than on every call.
	sweeps int
}

type memRecord struct {
	sum     [32]byte
	done    bool
	rec     Record
	expires time.Time
}

// sweepEvery is how many calls pass between two sweeps of expired
// entries: often enough to bound the memory, rarely enough to cost
// nothing per call.
const sweepEvery = 4096

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{tats: map[string]time.Time{}, records: map[string]*memRecord{}, now: time.Now}
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
func (m *Memory) Begin(_ context.Context, key string, sum [32]byte, lease time.Duration) (Begun, Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if r, ok := m.records[key]; ok && now.Before(r.expires) {
		switch {
		case r.sum != sum:
			return Mismatch, Record{}, nil
		case !r.done:
			return InProgress, Record{}, nil
		}
		return Done, r.rec, nil
	}
	m.records[key] = &memRecord{sum: sum, expires: now.Add(lease)}
	return Started, Record{}, nil
}

// Finish implements Store.
func (m *Memory) Finish(_ context.Context, key string, sum [32]byte, r Record, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records[key] = &memRecord{sum: sum, done: true, rec: r, expires: m.now().Add(ttl)}
	return nil
}

// Abandon implements Store.
func (m *Memory) Abandon(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[key]; ok && !r.done {
		delete(m.records, key)
	}
	return nil
}

// Close implements Store; memory holds no connections.
func (m *Memory) Close() error { return nil }

// sweep drops, every sweepEvery calls, the records that expired and the
// limits that are whole again (a tat in the past is as good as none).
// m.mu is held.
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
	for k, r := range m.records {
		if !now.Before(r.expires) {
			delete(m.records, k)
		}
	}
}
