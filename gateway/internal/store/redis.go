package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in a Redis server, shared by every gateway pointed at
// it. It is safe for concurrent use. Redis bounds its own memory
// (maxmemory); the store bounds each owner's records (RecordQuota).
type Redis struct {
	c     *redis.Client
	quota int
}

// Timeouts of the Redis client: a store that does not answer within them
// is unavailable, and the request meets its check's failure mode (served
// unchecked, or 503) at once rather than late.
const (
	redisDialTimeout = 500 * time.Millisecond
	redisIOTimeout   = 500 * time.Millisecond
)

// Key prefixes, so that the gateway's keys can share a database.
const (
	limitPrefix  = "fanout:limit:"
	recordPrefix = "fanout:idem:"
	// ownerPrefix names an owner's sorted set of record keys, scored by
	// when each lapses, to count the owner's records against its quota.
	ownerPrefix = "fanout:idem-owner:"
)

// NewRedis returns a store on the Redis server of rawURL
// (redis://HOST:PORT/DB), or on the primary that Redis Sentinel names when
// the URL carries master_name (see SentinelURL). A password that is not ""
// replaces the URL's, so that the secret need not be on the command line.
// It does not connect yet: a Redis that is down makes requests fail with
// ErrUnavailable, not the gateway's start. Its errors never carry the
// password.
func NewRedis(rawURL, password string) (*Redis, error) {
	return NewRedisQuota(rawURL, password, DefaultRecordQuota)
}

// SentinelURL reports whether rawURL names a primary through Redis
// Sentinel, in go-redis's form:
//
//	redis://SENTINEL:PORT/DB?master_name=NAME&addr=SENTINEL2:PORT&addr=SENTINEL3:PORT
//
// The host and each addr are sentinels, not Redis servers; the user and
// password of the URL are the sentinels' own (requirepass in their
// configuration), while the servers' password is the one given apart
// (-redis-password-file) or the password parameter.
func SentinelURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has("master_name")
}

// NewRedisQuota is NewRedis with quota records per owner (0: the
// default).
func NewRedisQuota(rawURL, password string, quota int) (*Redis, error) {
	if quota <= 0 {
		quota = DefaultRecordQuota
	}
	var c *redis.Client
	if SentinelURL(rawURL) {
		opt, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel url %s: %v", RedactURL(rawURL), urlError(err))
		}
		// NewFailoverClient panics on the options that need a cluster
		// client, and ReplicaOnly would send the scripts' writes to a
		// replica: the store needs the primary.
		if opt.RouteByLatency || opt.RouteRandomly || opt.ReplicaOnly {
			return nil, fmt.Errorf("redis sentinel url %s: route_by_latency, route_randomly and replica_only do not apply: the store writes to the primary", RedactURL(rawURL))
		}
		if password != "" {
			opt.Password = password
		}
		failFast(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MaxRetries, &opt.DialerRetries)
		c = redis.NewFailoverClient(opt)
	} else {
		opt, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url %s: %v", RedactURL(rawURL), urlError(err))
		}
		if password != "" {
			opt.Password = password
		}
		failFast(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout, &opt.MaxRetries, &opt.DialerRetries)
		c = redis.NewClient(opt)
	}
	quietClientLog.Do(func() { redis.SetLogger(slogDebug{}) })
	return &Redis{c: c, quota: quota}, nil
}

// failFast sets a client's timeouts and retries (the fields of
// redis.Options or redis.FailoverOptions) so that a Redis that does not
// answer fails the check at once.
func failFast(dial, read, write, pool *time.Duration, retries, dials *int) {
	*dial, *read, *write, *pool = redisDialTimeout, redisIOTimeout, redisIOTimeout, redisIOTimeout
	// One attempt: a retry would only stretch the wait of a request whose
	// check has failed anyway.
	*retries = -1
	// Likewise one dial: go-redis would otherwise try five times, 100 ms
	// apart, before a request whose check has failed anyway hears of it.
	*dials = 1
}

// urlError strips the URL from url.Parse's errors, which quote the whole
// URL, password included.
func urlError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// RedactURL returns a URL with its passwords, if any, replaced by
// "xxxxx" (the user's, and a Sentinel URL's password parameter), for
// errors and logs; a URL that does not parse is not shown at all.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// URLHasPassword reports whether a URL carries a password, as its user's
// or as a Sentinel URL's password parameter.
func URLHasPassword(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	if u.Query().Has("password") {
		return true
	}
	if u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// quietClientLog routes go-redis's own log lines, once per process, to
// slog at debug level. By default go-redis prints each failed dial to
// stderr; with Redis down that is a line per request, beside the
// gateway's own account of the 503 (the store's ErrUnavailable).
var quietClientLog sync.Once

// slogDebug is go-redis's logger interface over slog's default logger.
type slogDebug struct{}

func (slogDebug) Printf(ctx context.Context, format string, v ...any) {
	slog.Log(ctx, slog.LevelDebug, "redis client", "detail", fmt.Sprintf(format, v...))
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: redis: %v", ErrUnavailable, err)
	}
	return nil
}

// gcraScript is gcra (store.go) in one atomic step, on the server's clock
// (TIME), so that every replica reads the same now. Times are in
// microseconds; the tat is stored as a decimal integer, since a Lua number
// would print large values in exponent form and lose digits. It returns
// {allowed, remaining, reset, retry after}.
var gcraScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = per / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - per
if now < allow_at then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
local reset = nxt - now
return {1, math.floor((per - reset) / interval), math.ceil(reset), 0}
`)

// Allow implements Store.
func (r *Redis) Allow(ctx context.Context, key string, limit int, per time.Duration) (Decision, error) {
	v, err := gcraScript.Run(ctx, r.c, []string{limitPrefix + key}, limit, per.Microseconds()).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("%w: redis rate limit: %v", ErrUnavailable, err)
	}
	if len(v) != 4 {
		return Decision{}, fmt.Errorf("%w: redis rate limit: %d values, want 4", ErrUnavailable, len(v))
	}
	return Decision{
		Allowed:    v[0] == 1,
		Limit:      limit,
		Remaining:  int(v[1]),
		Reset:      time.Duration(v[2]) * time.Microsecond,
		RetryAfter: time.Duration(v[3]) * time.Microsecond,
	}, nil
}

// redisRecord is a record as Redis holds it, JSON.
type redisRecord struct {
	Sum    string  `json:"sum"`
	Done   bool    `json:"done"`
	Record *Record `json:"record,omitempty"`
}

func pending(sum [32]byte) string {
	b, _ := json.Marshal(redisRecord{Sum: hex.EncodeToString(sum[:])})
	return string(b)
}

// beginScript claims a key in one atomic step, on the server's clock: a
// key taken already is returned ({1, value}) to tell the other attempt's
// claim from its record; otherwise the owner's lapsed records leave its
// set, and the claim is refused ({2}) when the set holds the quota, or
// written and counted ({0}). KEYS: the record, the owner's set; ARGV: the
// claim, its lease in ms, the quota.
var beginScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {2} end
local lease = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', lease)
redis.call('ZADD', KEYS[2], now + lease, KEYS[1])
if redis.call('PTTL', KEYS[2]) < lease then redis.call('PEXPIRE', KEYS[2], lease) end
return {0}
`)

// finishScript stores a record and counts it in its owner's set until it
// lapses. KEYS: the record, the owner's set; ARGV: the record, its ttl in
// ms.
var finishScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 0
`)

// Begin implements Store (beginScript).
func (r *Redis) Begin(ctx context.Context, owner, key string, sum [32]byte, lease time.Duration) (Begun, Record, error) {
	v, err := beginScript.Run(ctx, r.c, []string{recordPrefix + key, ownerPrefix + owner},
		pending(sum), max(lease.Milliseconds(), 1), r.quota).Slice()
	if err != nil {
		return 0, Record{}, fmt.Errorf("%w: redis idempotency: %v", ErrUnavailable, err)
	}
	if len(v) == 0 {
		return 0, Record{}, fmt.Errorf("%w: redis idempotency: an empty answer", ErrUnavailable)
	}
	code, _ := v[0].(int64)
	switch code {
	case 0:
		return Started, Record{}, nil
	case 2:
		return OverQuota, Record{}, nil
	}
	b, _ := v[1].(string)
	var rr redisRecord
	if len(v) != 2 || json.Unmarshal([]byte(b), &rr) != nil {
		return 0, Record{}, fmt.Errorf("%w: redis idempotency: record %s does not parse", ErrUnavailable, key)
	}
	switch {
	case rr.Sum != hex.EncodeToString(sum[:]):
		return Mismatch, Record{}, nil
	case !rr.Done || rr.Record == nil:
		return InProgress, Record{}, nil
	}
	return Done, *rr.Record, nil
}

// Finish implements Store (finishScript).
func (r *Redis) Finish(ctx context.Context, owner, key string, sum [32]byte, rec Record, ttl time.Duration) error {
	b, err := json.Marshal(redisRecord{Sum: hex.EncodeToString(sum[:]), Done: true, Record: &rec})
	if err != nil {
		return fmt.Errorf("idempotency record: %w", err)
	}
	if err := finishScript.Run(ctx, r.c, []string{recordPrefix + key, ownerPrefix + owner}, b, max(ttl.Milliseconds(), 1)).Err(); err != nil {
		return fmt.Errorf("%w: redis idempotency: %v", ErrUnavailable, err)
	}
	return nil
}

// abandonScript deletes a key only while it is a claim, never a record.
var abandonScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.find(v, '"done":false', 1, true) then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Abandon implements Store.
func (r *Redis) Abandon(ctx context.Context, key string) error {
	if err := abandonScript.Run(ctx, r.c, []string{recordPrefix + key}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: redis idempotency: %v", ErrUnavailable, err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
