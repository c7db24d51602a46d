package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"fanout/gateway/internal/problem"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Bodies receives request bodies under their limits: a size limit per
// body, the read timeout, and a budget of the bytes in memory at once (in
// all and per client address). A body refused by any of them is answered
// with a problem, its connection closed lingeringly. It is safe for
// concurrent use.
type Bodies struct {
	budget *bodyBudget
	// maxSize is the largest body; readTimeout the time a whole request
	// may take, for the problem of a body that did not arrive in time.
	maxSize     int
	readTimeout time.Duration
	// onRefused is called with the status of each body refused.
	onRefused func(status int)
}

// NewBodies receives bodies of at most maxSize bytes, total bytes at once
// and perIP from one address; readTimeout is the server's, for the problem
// of a body that times out. onRefused, if not nil, is called with the
// status of each refusal, for the server's metrics.
func NewBodies(maxSize int, readTimeout time.Duration, total, perIP int64, onRefused func(status int)) *Bodies {
	if onRefused == nil {
		onRefused = func(int) {}
	}
	return &Bodies{budget: newBodyBudget(total, perIP), maxSize: maxSize, readTimeout: readTimeout, onRefused: onRefused}
}

// HeaderReceived is the server's HeaderReceived hook: it runs once a
// request's headers are read, before any byte of its body. A body over the size limit is refused unread: fasthttp, which
// streams bodies here, would otherwise wait for its first 8 KiB before any
// handler runs, and a client that waits for an early answer would wait for
// the read timeout. Marking the request as expecting 100-continue makes
// fasthttp skip that read and ask the server's ExpectHandler, which refuses it (RefuseTooLarge); a client that
// did not ask for 100-continue is never sent one, as it is refused.
func (bs *Bodies) HeaderReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if bs.TooLarge(h) {
		h.Set(fasthttp.HeaderExpect, "100-continue")
	}
	return fasthttp.RequestConfig{}
}

// InUse is the bytes of bodies reserved now.
func (bs *Bodies) InUse() int64 { return bs.budget.inUse() }

// bodyBudget bounds the bytes of request bodies in memory at once, in all
// and per client address. A request reserves its declared length (or the
// largest body for a chunked one) before a byte of its body is read, and
// releases it once its handler returns. It is safe for concurrent use.
type bodyBudget struct {
	total, perIP int64

	mu   sync.Mutex
	used int64
	byIP map[string]int64
}

func newBodyBudget(total, perIP int64) *bodyBudget {
	return &bodyBudget{total: total, perIP: perIP, byIP: map[string]int64{}}
}

// Which budget refused a reservation.
const (
	budgetOK = iota
	budgetTotal
	budgetIP
)

// reserve takes n bytes for ip, unless either budget would be passed.
func (b *bodyBudget) reserve(ip string, n int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v := b.verdict(ip, n); v != budgetOK {
		return v
	}
	b.used += n
	b.byIP[ip] += n
	return budgetOK
}

// fits says whether reserve(ip, n) would succeed now, without reserving.
func (b *bodyBudget) fits(ip string, n int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.verdict(ip, n)
}

// verdict is reserve's decision, under b.mu.
func (b *bodyBudget) verdict(ip string, n int64) int {
	if b.used+n > b.total {
		return budgetTotal
	}
	if b.perIP > 0 && b.byIP[ip]+n > b.perIP {
		return budgetIP
	}
	return budgetOK
}

// overBudget is the answer to a body refused by the budget (verdict v).
func (bs *Bodies) overBudget(ctx *fasthttp.RequestCtx, v int) {
	ctx.Response.Header.Set("Retry-After", "1")
	if v == budgetIP {
		bs.Refuse(ctx, problem.New(problem.TypeTooManyBodyBytes, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the gateway receives at most %d bytes of request bodies from one address at once", bs.budget.perIP)))
		return
	}
	bs.Refuse(ctx, problem.New(problem.TypeTooManyBodyBytes, fasthttp.StatusServiceUnavailable,
		fmt.Sprintf("the gateway is receiving its maximum of %d bytes of request bodies; retry later", bs.budget.total)))
}

// Fits answers a request that expects 100-continue whose body would not
// fit the budget now, and reports whether it fits: the handler reserves
// the body when it runs, and a body that would not fit now is not worth
// sending.
func (bs *Bodies) Fits(ctx *fasthttp.RequestCtx) bool {
	if v := bs.budget.fits(ctx.RemoteIP().String(), bs.reservation(&ctx.Request.Header)); v != budgetOK {
		bs.overBudget(ctx, v)
		return false
	}
	return true
}

// reservation is what a request's body reserves: its declared length,
// or the largest body for a chunked one, whose length is known only at its
// end; 0 for none.
func (bs *Bodies) reservation(h *fasthttp.RequestHeader) int64 {
	switch n := h.ContentLength(); {
	case n == -1:
		return int64(bs.maxSize)
	case n > 0:
		return int64(n)
	}
	return 0
}

func (b *bodyBudget) release(ip string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.byIP[ip] -= n; b.byIP[ip] <= 0 {
		delete(b.byIP, ip)
	}
}

// inUse is the bytes reserved now.
func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Body is a request body read under the budget; Release it once the
// handler is done with the request. The zero Body holds nothing.
type Body struct {
	budget *bodyBudget
	ip     string
	n      int64
	buf    *bytebufferpool.ByteBuffer
}

// Release gives the body's buffer and its reservation back.
func (b *Body) Release() {
	if b.buf != nil {
		bytebufferpool.Put(b.buf)
		b.buf = nil
	}
	if b.n > 0 {
		b.budget.release(b.ip, b.n)
		b.n = 0
	}
}

// Read reserves the request's body from the budget and reads it into
// the request, so that validation and the forwarded call see the same
// bytes. The server streams request bodies (StreamRequestBody), so nothing
// of a body beyond fasthttp's read buffer is in memory before this. It
// answers the request itself and returns false when the body is refused:
// too large (413), over the budget (503, or 429 for one address), or not
// received whole (400, 408).
func (bs *Bodies) Read(ctx *fasthttp.RequestCtx, b *Body) bool {
	max := bs.maxSize
	if ctx.Request.Header.ContentLength() > max {
		bs.RefuseTooLarge(ctx)
		return false
	}
	n := bs.reservation(&ctx.Request.Header)
	if n == 0 {
		return true
	}
	ip := ctx.RemoteIP().String()
	if v := bs.budget.reserve(ip, n); v != budgetOK {
		bs.overBudget(ctx, v)
		return false
	}
	b.budget, b.ip, b.n = bs.budget, ip, n
	b.buf = bytebufferpool.Get()
	// One byte more than the limit tells a too long chunked body apart.
	_, err := b.buf.ReadFrom(io.LimitReader(ctx.RequestBodyStream(), int64(max)+1))
	var nerr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) || len(b.buf.B) > max:
		bs.RefuseTooLarge(ctx)
		return false
	case errors.As(err, &nerr) && nerr.Timeout():
		bs.Refuse(ctx, problem.New(problem.TypeRequestTimeout, fasthttp.StatusRequestTimeout,
			fmt.Sprintf("the request was not received within %s", bs.readTimeout)))
		return false
	case err != nil:
		bs.Refuse(ctx, problem.New(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
			"the request body was not received whole: "+err.Error()))
		return false
	}
	// The handler and the calls it makes read the body until it returns;
	// the buffer goes back to the pool only then.
	ctx.Request.SetBodyRaw(b.buf.B)
	return true
}

// RefuseTooLarge refuses a body over the size limit (413).
func (bs *Bodies) RefuseTooLarge(ctx *fasthttp.RequestCtx) {
	bs.Refuse(ctx, problem.New(problem.TypeTooLarge, fasthttp.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body exceeds %d bytes", bs.maxSize)))
}

// TooLarge reports whether the request declares a body over the size
// limit.
func (bs *Bodies) TooLarge(h *fasthttp.RequestHeader) bool { return h.ContentLength() > bs.maxSize }

// Refuse answers a request whose body the gateway will not read, and
// closes its connection lingeringly: the client may be sending the body
// still, and closing at once would reset the connection before it reads
// the answer.
func (bs *Bodies) Refuse(ctx *fasthttp.RequestCtx, p problem.Problem) {
	bs.onRefused(p.Status)
	problem.Write(ctx, p)
	ctx.SetConnectionClose()
	LingerOnClose(ctx.Conn())
}
