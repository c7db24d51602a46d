package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"fanout/gateway/internal/poll"
	"fanout/gateway/internal/store"
	"fanout/gateway/internal/store/redistest"
)

// stores runs f against each implementation: memory, and a real
// redis-server.
func stores(t *testing.T, f func(t *testing.T, s store.Store)) {
	t.Run("memory", func(t *testing.T) { f(t, newMemory(t, store.MemoryOptions{})) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		r, err := store.NewRedis(srv.URL(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		f(t, r)
	})
}

// newMemory is a Memory store with opts, closed when the test ends.
func newMemory(t *testing.T, opts store.MemoryOptions) *store.Memory {
	t.Helper()
	m, err := store.NewMemory(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestAllowBurst: a fresh key allows a burst of limit requests, counting
// Remaining down, then refuses with a RetryAfter of about one interval;
// another key has its own limit.
func TestAllowBurst(t *testing.T) {
	stores(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		const limit, per = 5, time.Hour
		for i := range limit {
			d, err := s.Allow(ctx, "a", limit, per)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed || d.Remaining != limit-1-i || d.Limit != limit {
				t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, limit-1-i)
			}
		}
		d, err := s.Allow(ctx, "a", limit, per)
		if err != nil {
			t.Fatal(err)
		}
		interval := per / limit
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= interval/2 || d.RetryAfter > interval {
			t.Errorf("request %d: %+v, want refused, retry after about %s", limit+1, d, interval)
		}
		if d, _ := s.Allow(ctx, "b", limit, per); !d.Allowed {
			t.Errorf("another key: %+v, want allowed", d)
		}
	})
}

// TestAllowTooFineARate: a rate finer than the clock allows answers a
// decision, never a panic (a division by an interval of zero).
func TestAllowTooFineARate(t *testing.T) {
	s := newMemory(t, store.MemoryOptions{})
	for range 3 {
		if _, err := s.Allow(context.Background(), "k", 2000, time.Microsecond); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAllowRefills: after one interval, one more request is allowed.
func TestAllowRefills(t *testing.T) {
	stores(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		const limit, per = 2, 200 * time.Millisecond
		for range limit {
			if d, _ := s.Allow(ctx, "k", limit, per); !d.Allowed {
				t.Fatalf("burst refused: %+v", d)
			}
		}
		refused := time.Now()
		d, _ := s.Allow(ctx, "k", limit, per)
		if d.Allowed {
			t.Fatalf("over the burst: %+v", d)
		}
		// A refused request takes nothing, so asking until one is allowed
		// measures when the store refills. Our clock starts before the
		// store's refusal, so a slow machine only lengthens the wait.
		var took time.Duration
		poll.Until(t, d.RetryAfter+10*time.Second, "a request allowed after RetryAfter", func() bool {
			next, err := s.Allow(ctx, "k", limit, per)
			took = time.Since(refused)
			return err == nil && next.Allowed
		})
		if took < d.RetryAfter/2 {
			t.Errorf("allowed %v after the refusal, well before its RetryAfter %v", took, d.RetryAfter)
		}
	})
}

// TestIdempotencyRecords: the life of a key: claimed, in progress for the
// same body, a mismatch for another, replayed once finished; abandoned,
// it can be claimed again.
func TestIdempotencyRecords(t *testing.T) {
	stores(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
		begin := func(key string, sum [32]byte, want store.Begun) store.Record {
			t.Helper()
			got, rec, err := s.Begin(ctx, "o", key, sum, time.Minute)
			if err != nil || got != want {
				t.Fatalf("Begin(%s): %v, %v; want %v", key, got, err, want)
			}
			return rec
		}
		begin("k", a, store.Started)
		begin("k", a, store.InProgress)
		begin("k", b, store.Mismatch)
		rec := store.Record{Status: 201, Headers: map[string]string{"Location": "/v2/experiments/7"}, Body: []byte(`{"id":"7"}`)}
		if err := s.Finish(ctx, "o", "k", a, rec, time.Hour); err != nil {
			t.Fatal(err)
		}
		got := begin("k", a, store.Done)
		if got.Status != 201 || string(got.Body) != `{"id":"7"}` || got.Headers["Location"] != "/v2/experiments/7" {
			t.Errorf("replayed record %+v, want %+v", got, rec)
		}
		begin("k", b, store.Mismatch)
		// Abandon leaves a finished record alone.
		if err := s.Abandon(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		begin("k", a, store.Done)

		begin("lost", a, store.Started)
		if err := s.Abandon(ctx, "lost"); err != nil {
			t.Fatal(err)
		}
		begin("lost", a, store.Started)
	})
}

// TestIdempotencyClaimLapses: a claim that is neither finished nor
// abandoned (its gateway died) lapses after its lease.
func TestIdempotencyClaimLapses(t *testing.T) {
	stores(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := sha256.Sum256([]byte("a"))
		const lease = 100 * time.Millisecond
		claimed := time.Now()
		if got, _, _ := s.Begin(ctx, "o", "k", a, lease); got != store.Started {
			t.Fatalf("first claim: %v", got)
		}
		// Until the lease ends the claim holds (InProgress); our clock
		// starts before the claim, so a slow machine only lengthens the
		// wait.
		var took time.Duration
		poll.Until(t, lease+10*time.Second, "the claim to lapse", func() bool {
			got, _, err := s.Begin(ctx, "o", "k", a, time.Minute)
			took = time.Since(claimed)
			if err != nil || (got != store.Started && got != store.InProgress) {
				t.Fatalf("while the claim lapses: %v, %v; want InProgress, then Started", got, err)
			}
			return got == store.Started
		})
		if took < lease/2 {
			t.Errorf("claimed again %v after the first claim, before its lease of %v", took, lease)
		}
	})
}

// TestRedisDown: a Redis that is gone makes every call fail with
// ErrUnavailable, never a silent allow.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	r, err := store.NewRedis(srv.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, err := r.Allow(ctx, "k", 10, time.Second); err != nil {
		t.Fatalf("with redis up: %v", err)
	}
	srv.Stop()
	d, err := r.Allow(ctx, "k", 10, time.Second)
	if !errors.Is(err, store.ErrUnavailable) || d.Allowed {
		t.Errorf("Allow with redis down: %+v, %v; want ErrUnavailable", d, err)
	}
	if _, _, err := r.Begin(ctx, "o", "i", sha256.Sum256(nil), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Begin with redis down: %v, want ErrUnavailable", err)
	}
}

// TestRedisClientLogsAtDebug: go-redis's own account of a failed dial goes
// to slog at debug level, not to stderr at every request while Redis is
// down (the request's 503 is the gateway's to log).
func TestRedisClientLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	// A port nothing listens on: reserved, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := store.NewRedis("redis://"+addr+"/0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping of a closed port: %v, want ErrUnavailable", err)
	}
	out := buf.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "failed to dial") {
		t.Errorf("go-redis's dial failure is not in slog at debug level; slog got %q", out)
	}
}

// TestRecordQuota: an owner holds at most its quota of claims and
// records; the next claim is refused, whatever its key, while another
// owner's go on; a record of a key it holds is still replayed.
func TestRecordQuota(t *testing.T) {
	const quota = 3
	run := func(t *testing.T, s store.Store) {
		ctx := context.Background()
		a := sha256.Sum256([]byte("a"))
		for i := range quota {
			key := "q" + strconv.Itoa(i)
			if got, _, err := s.Begin(ctx, "busy", key, a, time.Minute); err != nil || got != store.Started {
				t.Fatalf("claim %d: %v, %v", i+1, got, err)
			}
			if err := s.Finish(ctx, "busy", key, a, store.Record{Status: 201}, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if got, _, err := s.Begin(ctx, "busy", "q-over", a, time.Minute); err != nil || got != store.OverQuota {
			t.Errorf("claim past the quota: %v, %v; want OverQuota", got, err)
		}
		if got, _, err := s.Begin(ctx, "busy", "q0", a, time.Minute); err != nil || got != store.Done {
			t.Errorf("a key it holds: %v, %v; want Done", got, err)
		}
		if got, _, err := s.Begin(ctx, "other", "q-over", a, time.Minute); err != nil || got != store.Started {
			t.Errorf("another owner: %v, %v; want Started", got, err)
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, newMemory(t, store.MemoryOptions{RecordQuota: quota})) })
	t.Run("redis", func(t *testing.T) {
		r, err := store.NewRedisQuota(redistest.Start(t).URL(), "", quota)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		run(t, r)
	})
}

// TestMemoryRecordsBounded: records past the store's bytes are evicted
// and counted, and the store never holds much more than its bound.
func TestMemoryRecordsBounded(t *testing.T) {
	const bound = 256 << 10
	m := newMemory(t, store.MemoryOptions{MaxRecordBytes: bound, RecordQuota: 1 << 20})
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1200) // a record as large as a created experiment's
	a := sha256.Sum256([]byte("a"))
	const n = 2000 // about 3 MB of records
	for i := range n {
		key := "k" + strconv.Itoa(i)
		if _, _, err := m.Begin(ctx, "o", key, a, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := m.Finish(ctx, "o", key, a, store.Record{Status: 201, Body: body}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "the store to evict down to its bound", func() bool {
		return m.Stats().Bytes <= bound
	})
	st := m.Stats()
	if st.Evicted < n/2 || st.Records > n/4 {
		t.Errorf("%+v after %d records of about 1.5 KB under a bound of %d bytes, want most evicted", st, n, bound)
	}
}

// TestMemoryRecordsExpireBySelf: records that lapse leave the store
// without any further call to it: no sweep waits for a request.
func TestMemoryRecordsExpireBySelf(t *testing.T) {
	m := newMemory(t, store.MemoryOptions{RecordQuota: 100})
	ctx := context.Background()
	a := sha256.Sum256([]byte("a"))
	for i := range 100 {
		if _, _, err := m.Begin(ctx, "o", "k"+strconv.Itoa(i), a, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().Records; got != 100 {
		t.Fatalf("%d records, want 100", got)
	}
	poll.Until(t, 10*time.Second, "the lapsed claims to leave the store", func() bool {
		return m.Stats().Records == 0
	})
	// Their owner's count went with them: its quota is whole again.
	for i := range 100 {
		if got, _, _ := m.Begin(ctx, "o", "again"+strconv.Itoa(i), a, time.Minute); got != store.Started {
			t.Fatalf("claim %d after the others lapsed: %v", i, got)
		}
	}
}

// TestRedisSentinelURL: a URL with master_name is a Sentinel URL, in
// go-redis's form; options that would make go-redis panic or write to a
// replica are refused with an error, and no error or redacted URL shows a
// password, the sentinels' or the servers'.
func TestRedisSentinelURL(t *testing.T) {
	const secret = "s3cret-pw"
	cases := []struct {
		url, want string // want: in the error; "": none
	}{
		{"redis://127.0.0.1:26379/0?master_name=fanout&addr=127.0.0.1:26380", ""},                  // a Sentinel URL
		{"redis://127.0.0.1:26379/0?master_name=fanout&route_randomly=true", "route_randomly"},     // go-redis would panic
		{"redis://127.0.0.1:26379/0?master_name=fanout&route_by_latency=true", "route_by_latency"}, // likewise
		{"redis://127.0.0.1:26379/0?master_name=fanout&replica_only=true", "replica_only"},         // writes to a replica
		{"redis://:" + secret + "@127.0.0.1:26379/0?master_name=fanout&bogus=1", "bogus"},          // the sentinels' password
		{"redis://127.0.0.1:26379/0?master_name=fanout&password=" + secret + "&bogus=1", "bogus"},  // the servers' password
	}
	for _, c := range cases {
		if !store.SentinelURL(c.url) {
			t.Errorf("%s: not a Sentinel URL", c.url)
		}
		r, err := store.NewRedis(c.url, "")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one naming %s", c.url, err, c.want)
		case err != nil && strings.Contains(err.Error(), secret):
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
		if r != nil {
			r.Close()
		}
		if red := store.RedactURL(c.url); strings.Contains(red, secret) {
			t.Errorf("RedactURL(%s) = %s, shows the password", c.url, red)
		}
	}
	if store.SentinelURL("redis://127.0.0.1:6379/0") {
		t.Error("a plain URL taken for a Sentinel URL")
	}
	if !store.URLHasPassword("redis://h:26379/0?master_name=m&password=" + secret) {
		t.Error("URLHasPassword misses the password parameter")
	}
}
