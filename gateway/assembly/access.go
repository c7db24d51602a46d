package assembly

import (
	"context"
	"log/slog"
	"time"

	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/store"
)

// access is who may use the gateway, and where their limits and records
// live.
type access struct {
	tokens *auth.Set // nil: authentication off
	store  store.Store
	dev    string // the development token's secret, if one was made
}

// newAccess reads cfg.Tokens, or makes a development token when there is
// none (secure by default, still one command to try), or nothing with
// -auth off, which it warns about at every start; and opens the store.
func newAccess(cfg config.Config, log *slog.Logger) (access, error) {
	if log == nil {
		log = slog.Default()
	}
	var a access
	var err error
	switch {
	case cfg.Auth == config.AuthOff:
		log.Warn("authentication is off (-auth off): anyone reaches every project, unlimited; for labs only")
	case cfg.Tokens != "":
		if a.tokens, err = auth.Load(cfg.Tokens); err != nil {
			return access{}, err
		}
	default:
		if a.tokens, a.dev, err = auth.Dev(); err != nil {
			return access{}, err
		}
	}
	if cfg.Redis == "" {
		if a.store, err = store.NewMemory(store.MemoryOptions{MaxRecordBytes: cfg.IdempotencyMaxBytes, RecordQuota: cfg.IdempotencyQuota}); err != nil {
			return access{}, err
		}
		return a, nil
	}
	password, err := cfg.RedisPassword()
	if err != nil {
		return access{}, err
	}
	if store.URLHasPassword(cfg.Redis) && password == "" {
		log.Warn("the -redis URL carries a password, which the process list shows; give it in " +
			config.RedisPasswordEnv + " or -redis-password-file instead")
	}
	r, err := store.NewRedisQuota(cfg.Redis, password, cfg.IdempotencyQuota)
	if err != nil {
		return access{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		// Not fatal: until it answers, each check meets its failure
		// mode, and the gateway serves meanwhile.
		log.Warn("redis does not answer yet; until it does, rate limits are "+failing(cfg.RateLimitOnStoreError)+
			" and creates with an Idempotency-Key are "+failing(cfg.IdempotencyOnStoreError), "error", err)
	}
	a.store = r
	return a, nil
}

// failing says what a check's failure mode does to a request, for the log.
func failing(m config.FailMode) string {
	if m == config.FailOpen {
		return "not checked"
	}
	return "refused with 503"
}

// DevToken returns the secret of the development token generated because
// no tokens file was given, or "" if there is none.
func (g *Gateway) DevToken() string { return g.devToken }
