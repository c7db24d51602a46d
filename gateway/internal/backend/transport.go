package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// errNoCall is the error of a request that reached the transport without
// a call: only DoBody sends requests, so it means a bug, not a failure of
// the backend.
var errNoCall = errors.New("request sent outside a call")

// errNotSent is the error of a call whose deadline passed before its
// request was out: waiting for a connection, or writing a request that
// the backend never had whole, so could not act on. classify finds it
// unavailable: a retry is safe.
var errNotSent = fmt.Errorf("the call's deadline passed before its request was sent: %w", fasthttp.ErrNoFreeConns)

// A call is what the transport needs of a request that fasthttp does not
// carry: the context that may cancel it, its deadline, and the Exchange
// whose Interrupt cuts it.
type call struct {
	ctx      context.Context
	deadline time.Time
	ex       *Exchange
}

// transport is fasthttp's default round trip made cancellable. fasthttp's
// client takes a deadline, not a context, so a call already on the wire
// would run to its end after its request was given up (the client gone, or
// a required sibling failed), and the backend would go on working for
// nobody. Here, while the request is written and its answer read, the
// call is registered with its Exchange, whose Interrupt sets a deadline in
// the past on the connection once the call's context is done, which wakes
// the blocked write or read at once; the connection is then closed,
// never pooled, since a half-read answer on it would be taken for the next
// request's, and the backend sees the end of the stream.
//
// fasthttp hands the transport only the request, so DoBody sends an
// outgoing request, which carries its call as a user value of the request
// (see callOf). A map from request to call under a mutex, one per
// backend, cost a results page 0.6 % more CPU (three locks and three
// hashings a call).
//
// Apart from that it does what fasthttp's transport does for the options
// set in New (no streaming, no WriteTimeout, ReadTimeout or
// MaxConnDuration): the same connection pool, the same retry answers, the
// same response size limit.
type transport struct{}

// outgoing is a request to a backend and its call, pooled together, so
// that the call costs no allocation: the request's user value points to
// the call.
type outgoing struct {
	req  fasthttp.Request
	call call
}

// callKey is the key of an outgoing request's call among its user values.
type callKey struct{}

var outgoings = sync.Pool{New: func() any { return new(outgoing) }}

// acquireOutgoing returns a pooled request that carries the call of ctx,
// deadline and ex, for releaseOutgoing.
func acquireOutgoing(ctx context.Context, deadline time.Time, ex *Exchange) *outgoing {
	o := outgoings.Get().(*outgoing)
	o.call = call{ctx, deadline, ex}
	o.req.SetUserValue(callKey{}, &o.call)
	return o
}

func releaseOutgoing(o *outgoing) {
	o.call = call{}
	o.req.Reset()
	outgoings.Put(o)
}

// callOf is the call req carries, if it is an outgoing request.
func callOf(req *fasthttp.Request) (*call, bool) {
	c, ok := req.UserValue(callKey{}).(*call)
	return c, ok
}

// RoundTrip sends req on a connection of hc and reads its answer into
// resp, giving up as soon as the call's Exchange is interrupted with the
// call's context done. retry says whether HostClient may try again (its
// RetryIfErr has the last word); a cancelled call is never retried.
func (t *transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	c, ok := callOf(req)
	if !ok {
		return false, errNoCall
	}
	// Until a connection is in hand nothing is sent: a deadline that
	// passes first, while the call waited for its slot or here, leaves it
	// unavailable (a retry is safe), not a timeout.
	if err := c.ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return false, errNotSent
		}
		return false, err
	}
	timeout := time.Until(c.deadline)
	if timeout <= 0 {
		return false, errNotSent
	}
	cc, err := hc.AcquireConn(timeout, req.ConnectionClose())
	// fasthttp's wait for a free connection ends at the deadline with
	// ErrTimeout, the error of a call that was sent and not answered.
	if errors.Is(err, fasthttp.ErrTimeout) {
		return false, errNotSent
	}
	if err != nil {
		return false, err
	}
	// fasthttp's own transport also notes the connection's addresses on
	// resp (ParseNetConn): the gateway never asks a backend's answer for
	// them, and each is a call through the guard.
	conn := cc.Conn()
	// One deadline for the write and the read: both end with the call.
	if err := conn.SetDeadline(c.deadline); err != nil {
		hc.CloseConn(cc)
		return true, err
	}
	slot := c.ex.enter(c.ctx, conn)

	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		cut := c.ex.leave(slot, nil)
		hc.CloseConn(cc)
		// A request cut or timed out before it was out whole was never
		// sent: the deadline passed while the call waited its turn.
		deadline := errors.Is(c.ctx.Err(), context.DeadlineExceeded)
		if cut && !deadline {
			return false, c.ctx.Err()
		}
		if x, ok := err.(interface{ Timeout() bool }); cut || ok && x.Timeout() {
			return false, errNotSent
		}
		return true, err
	}

	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	br := hc.AcquireReader(conn)
	err = resp.ReadLimitBody(br, hc.MaxResponseBodySize)
	hc.ReleaseReader(br)
	// An Interrupt that came too late to cut the read still left its
	// deadline on the connection: close it rather than pool it.
	var read *fasthttp.Response
	if err == nil {
		read = resp
	}
	cut := c.ex.leave(slot, read)
	if err != nil {
		hc.CloseConn(cc)
		if cut {
			return false, c.ctx.Err()
		}
		// The same answer would come again.
		return !errors.Is(err, fasthttp.ErrBodyTooLarge), err
	}
	if cut || req.ConnectionClose() || resp.ConnectionClose() || disowned(conn) {
		hc.CloseConn(cc)
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
}

// longAgo is a deadline in the past, which wakes a blocked read or write
// at once.
var longAgo = time.Unix(1, 0)

// disowned reports whether a stray answer was found to have come on conn
// (see Exchange.Disown): it then goes back to no pool.
func disowned(conn any) bool {
	g, ok := conn.(*guardedConn)
	return ok && g.disowned.Load()
}
