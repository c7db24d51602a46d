// Package accesslog writes the gateway's access log: one structured line
// per public request, through log/slog (JSON or text, as the gateway's log
// is), with every failed request and a share of the others.
//
// Why a share: a line costs a few microseconds of formatting and a write,
// which at thousands of requests a second is a few per cent of the CPU of
// a request spent on lines nobody reads; the failures are the lines an
// operator looks for, and a sample of the successes is enough to see who
// calls what and how fast (the metrics count every request).
package accesslog

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// DefaultSample is the share of successful requests logged by default: one
// in a hundred, 30 lines a second at 3,000 requests a second.
const DefaultSample = 0.01

// Message is the message of every access line, for a reader to filter on.
const Message = "request"

// Entry is what one access line says of a request.
type Entry struct {
	RequestID string
	// TraceID is the request's trace id in hex, when it has one (tracing
	// is on, or the client sent a traceparent); "" otherwise.
	TraceID   string
	Operation string // operationId; "" for a path the document lacks
	Method    string
	Status    int
	Duration  time.Duration
	Bytes     int    // of the response body sent
	Token     string // the token's name, never its secret; "" if none
	// Problem is the short type of the problem answered ("rate-limited"),
	// "" when the answer is not a problem.
	Problem string
	// FailedCalls names the backend calls that failed the request or left
	// its page partial.
	FailedCalls []string
}

// Logger writes access lines to a slog.Logger. A nil Logger logs nothing.
// It is safe for concurrent use.
type Logger struct {
	log    *slog.Logger
	sample float64
}

// New returns a Logger that writes to log every request that failed
// (status 400 and above, the 499 of a client gone included) and the share
// sample, between 0 and 1, of the others.
func New(log *slog.Logger, sample float64) (*Logger, error) {
	if log == nil {
		return nil, fmt.Errorf("access log: no logger")
	}
	if sample < 0 || sample > 1 {
		return nil, fmt.Errorf("access log sample %v: want a share between 0 and 1", sample)
	}
	return &Logger{log: log, sample: sample}, nil
}

// Sampled decides whether the request answered status is logged: a
// failure always, a success with the probability of the Logger's share.
// It costs no allocation and takes no lock, so that the caller can ask it
// first and build an Entry only for the lines written. Ask once per
// request: each call draws anew.
func (l *Logger) Sampled(status int) bool {
	switch {
	case l == nil:
		return false
	case status >= 400:
		return true
	case l.sample <= 0:
		return false
	case l.sample >= 1:
		return true
	}
	return rand.Float64() < l.sample
}

// Log writes e's line at level info, or warn for a 5xx.
func (l *Logger) Log(e *Entry) {
	if l == nil {
		return
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("request_id", e.RequestID),
		slog.String("operation", e.Operation),
		slog.String("method", e.Method),
		slog.Int("status", e.Status),
		// Milliseconds as a number: what a query or a dashboard sums
		// and compares, in the unit of Server-Timing.
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.Int("bytes", e.Bytes),
	)
	if e.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", e.TraceID))
	}
	if e.Token != "" {
		attrs = append(attrs, slog.String("token", e.Token))
	}
	if e.Problem != "" {
		attrs = append(attrs, slog.String("problem", e.Problem))
	}
	if len(e.FailedCalls) > 0 {
		attrs = append(attrs, slog.Any("failed_calls", e.FailedCalls))
	}
	l.log.LogAttrs(context.Background(), level, Message, attrs...)
}
