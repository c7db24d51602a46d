package server

import (
	"context"
	"log/slog"
	"time"

	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/ratelog"

	"github.com/valyala/fasthttp"
)

// When the shared store (Redis) fails, each of its checks has its failure
// mode, set by flags:
//
//   - The rate limit fails open by default, as Envoy's global rate limiting
//     does: a Redis outage must not become an outage of the whole API,
//     and a limit unchecked for a while costs less than every request
//     refused. Each such request is counted in fanout_store_unchecked_total,
//     so that an operator sees the limits lapse. Closed, it gets 503.
//   - An idempotent create fails closed by default: without its claim, two
//     attempts could run at once and the client could not be answered the
//     first one's response. It gets 503 with Retry-After: nothing was
//     performed, so the client may retry with the same key. Open, it is
//     performed without a record, and only the backend's own check of
//     the key stands between a retry and a second experiment.
//
// While Redis is down every request meets the same error: each cause
// writes one log line a second at most, which counts the ones it held
// back (ratelog), so that the log stays readable and costs no write per
// request.

// Details of the 503 of a store that failed; both say that nothing was
// performed, so that a client knows it may retry.
const (
	detailLimitUnchecked = "the gateway cannot reach its store of rate limits, and does not serve requests it cannot check; the request was not performed and is safe to retry"
	detailClaimFailed    = "the gateway cannot reach its store of idempotency records; the request was not performed and is safe to retry with the same Idempotency-Key"
)

// storeLogs are the causes of the store's log lines, each limited apart:
// one failing operation must not hide another.
type storeLogs struct {
	limit   *ratelog.Cause // a rate limit not checked
	claim   *ratelog.Cause // an Idempotency-Key not claimed
	release *ratelog.Cause // a claim not released after a 5xx
	record  *ratelog.Cause // a response not recorded for replay
}

func newStoreLogs() storeLogs {
	return storeLogs{
		limit:   ratelog.New(storeLogEvery),
		claim:   ratelog.New(storeLogEvery),
		release: ratelog.New(storeLogEvery),
		record:  ratelog.New(storeLogEvery),
	}
}

// storeLogEvery is the least time between two log lines of one cause.
const storeLogEvery = time.Second

// storeUnavailable answers 503, with Retry-After, for a request that was
// not performed because the store failed a check that fails closed.
func (s *Server) storeUnavailable(ctx *fasthttp.RequestCtx, cause *ratelog.Cause, err error, detail string) {
	s.logStore(ctx, cause, slog.LevelError, "store unavailable: request refused", err)
	s.metrics.Error(metrics.KindUnavailable)
	s.metrics.StoreError()
	ctx.Response.Header.Set("Retry-After", "1")
	problem.Write(ctx, problem.New(problem.TypeStoreUnavailable, fasthttp.StatusServiceUnavailable, detail))
}

// storeFailedOpen counts and logs a request served without check because
// the store failed a check that fails open.
func (s *Server) storeFailedOpen(ctx *fasthttp.RequestCtx, cause *ratelog.Cause, check string, err error) {
	s.logStore(ctx, cause, slog.LevelError, "store unavailable: request served unchecked", err)
	s.metrics.StoreError()
	s.metrics.Unchecked(check)
}

// logStore writes the line of a store failure of cause, unless the cause
// wrote one less than a second ago; the line counts those held back. A
// line held back costs no allocation: msg is a constant, and the request
// id is copied only for a line written.
func (s *Server) logStore(ctx *fasthttp.RequestCtx, cause *ratelog.Cause, level slog.Level, msg string, err error) {
	tally, ok := cause.Allow()
	if !ok {
		return
	}
	s.log.Log(context.Background(), level, tally.Message(msg),
		"request_id", string(ctx.Response.Header.Peek("X-Request-Id")), "held_back", tally.Held, "error", err)
}
