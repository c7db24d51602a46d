package backend

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Kind is the stable class of a failed call, the only thing about a
// backend's failure that a public error carries: causes, addresses and the
// backend's bytes go to the log. Its value is the machine-readable "kind"
// member of problems and of a results page's missing calls.
type Kind string

// Kinds of failed call.
const (
	// KindUnreachable: no connection could be made, or it broke before an
	// answer (refused, reset, closed).
	KindUnreachable Kind = "unreachable"
	// KindTimeout: the backend did not answer in full before the call's
	// deadline.
	KindTimeout Kind = "timeout"
	// KindUnavailable: no connection to the backend was free before the
	// call's deadline, so the call was never sent and a retry is safe.
	KindUnavailable Kind = "unavailable"
	// KindBadStatus: the backend answered a status the call does not accept.
	KindBadStatus Kind = "bad_status"
	// KindMalformed: the answer is not HTTP, not JSON, or lacks or breaks a
	// field the gateway needs.
	KindMalformed Kind = "malformed"
	// KindTooLarge: the body exceeds the response size limit.
	KindTooLarge Kind = "too_large"
	// KindCancelled: the gateway gave the call up before its answer, since
	// nobody would read it (the client went away, or a required sibling
	// failed). It is never a public kind: the engine reports such a call
	// aborted, and a client that went away reads nothing.
	KindCancelled Kind = "cancelled"
	// KindCircuitOpen: the backend's circuit breaker is open (it failed
	// too often of late), so the call was refused without being sent; the
	// client may retry after the Retry-After the gateway sends.
	KindCircuitOpen Kind = "circuit_open"
)

// Detail is the kind as a public phrase: "timeout", "bad status 500",
// "malformed body"... status is used by KindBadStatus only.
func (k Kind) Detail(status int) string {
	switch k {
	case KindBadStatus:
		return "bad status " + strconv.Itoa(status)
	case KindMalformed:
		return "malformed body"
	case KindTooLarge:
		return "too large"
	case KindUnavailable:
		return "no free connection"
	case KindCircuitOpen:
		return "circuit open"
	}
	return string(k)
}

// Error is the error of a call that got no usable response. Its message
// holds the cause and the backend's address: it is for the log, never for a
// public body.
type Error struct {
	Kind    Kind
	Backend string // the backend's name
	Addr    string // the backend's address
	Err     error  // the cause
}

// Error says what failed, where and why.
func (e *Error) Error() string {
	return "backend " + e.Backend + " at " + e.Addr + ": " + string(e.Kind) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrTimeout) and errors.Is(err, ErrUnavailable)
// hold for the matching kinds.
func (e *Error) Is(target error) bool {
	return target == ErrTimeout && e.Kind == KindTimeout || target == ErrUnavailable && e.Kind == KindUnavailable
}

// KindOf classes any error of a call: an *Error has its kind; the context's
// deadline is a timeout; anything else is unreachable.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrTimeout):
		return KindTimeout
	case errors.Is(err, ErrUnavailable):
		return KindUnavailable
	}
	return KindUnreachable
}

// classify finds the kind of an error of fasthttp's client.
func classify(err error) Kind {
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindCancelled
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return KindTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnPoolStrategyNotImpl):
		return KindUnavailable
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return KindTooLarge
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, errUnsolicited), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindUnreachable
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return KindUnreachable
	}
	// What is left is fasthttp failing to parse what the backend sent.
	return KindMalformed
}
