package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"fanout/gateway/internal/metrics"
	"fanout/gateway/internal/problem"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Defaults of the memory budget for request bodies.
const (
	// DefaultMaxBodyBytesInFlight bounds the bytes of request bodies being
	// received or held at once: 64 full-size bodies, a few tens of MiB of
	// RSS at worst, where the connection limit alone would allow 10 GiB.
	DefaultMaxBodyBytesInFlight = 64 << 20
	// DefaultMaxBodyBytesPerIP bounds them for one client address, so that
	// one address cannot spend the whole budget.
	DefaultMaxBodyBytesPerIP = 8 << 20
)

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
func (s *Server) overBudget(ctx *fasthttp.RequestCtx, v int) {
	ctx.Response.Header.Set("Retry-After", "1")
	if v == budgetIP {
		s.refuseBody(ctx, problem.New(problem.TypeTooManyBodyBytes, fasthttp.StatusTooManyRequests,
			fmt.Sprintf("the gateway receives at most %d bytes of request bodies from one address at once", s.budget.perIP)))
		return
	}
	s.refuseBody(ctx, problem.New(problem.TypeTooManyBodyBytes, fasthttp.StatusServiceUnavailable,
		fmt.Sprintf("the gateway is receiving its maximum of %d bytes of request bodies; retry later", s.budget.total)))
}

// bodyReservation is what a request's body reserves: its declared length,
// or the largest body for a chunked one, whose length is known only at its
// end; 0 for none.
func (s *Server) bodyReservation(h *fasthttp.RequestHeader) int64 {
	switch n := h.ContentLength(); {
	case n == -1:
		return int64(s.limits.MaxRequestBodySize)
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

// body is a request body read under the budget; release it once the
// handler is done with the request.
type body struct {
	budget *bodyBudget
	ip     string
	n      int64
	buf    *bytebufferpool.ByteBuffer
}

func (b *body) release() {
	if b.buf != nil {
		bytebufferpool.Put(b.buf)
		b.buf = nil
	}
	if b.n > 0 {
		b.budget.release(b.ip, b.n)
		b.n = 0
	}
}

// readBody reserves the request's body from the budget and reads it into
// the request, so that validation and the forwarded call see the same
// bytes. The server streams request bodies (StreamRequestBody), so nothing
// of a body beyond fasthttp's read buffer is in memory before this. It
// answers the request itself and returns false when the body is refused:
// too large (413), over the budget (503, or 429 for one address), or not
// received whole (400, 408).
func (s *Server) readBody(ctx *fasthttp.RequestCtx, b *body) bool {
	max := s.limits.MaxRequestBodySize
	if ctx.Request.Header.ContentLength() > max {
		s.refuseTooLarge(ctx)
		return false
	}
	n := s.bodyReservation(&ctx.Request.Header)
	if n == 0 {
		return true
	}
	ip := ctx.RemoteIP().String()
	if v := s.budget.reserve(ip, n); v != budgetOK {
		s.overBudget(ctx, v)
		return false
	}
	b.budget, b.ip, b.n = s.budget, ip, n
	b.buf = bytebufferpool.Get()
	// One byte more than the limit tells a too long chunked body apart.
	_, err := b.buf.ReadFrom(io.LimitReader(ctx.RequestBodyStream(), int64(max)+1))
	var nerr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) || len(b.buf.B) > max:
		s.refuseTooLarge(ctx)
		return false
	case errors.As(err, &nerr) && nerr.Timeout():
		s.refuseBody(ctx, problem.New(problem.TypeRequestTimeout, fasthttp.StatusRequestTimeout,
			fmt.Sprintf("the request was not received within %s", s.limits.ReadTimeout)))
		return false
	case err != nil:
		s.refuseBody(ctx, problem.New(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
			"the request body was not received whole: "+err.Error()))
		return false
	}
	// The handler and the calls it makes read the body until it returns;
	// the buffer goes back to the pool only then.
	ctx.Request.SetBodyRaw(b.buf.B)
	return true
}

// refuseTooLarge refuses a body over the size limit (413).
func (s *Server) refuseTooLarge(ctx *fasthttp.RequestCtx) {
	s.refuseBody(ctx, problem.New(problem.TypeTooLarge, fasthttp.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body exceeds %d bytes", s.limits.MaxRequestBodySize)))
}

// refuseBody answers a request whose body the gateway will not read, and
// closes its connection lingeringly: the client may be sending the body
// still, and closing at once would reset the connection before it reads
// the answer.
func (s *Server) refuseBody(ctx *fasthttp.RequestCtx, p problem.Problem) {
	if p.Status == fasthttp.StatusServiceUnavailable {
		s.metrics.Error(metrics.KindUnavailable)
	} else {
		s.metrics.Error(metrics.KindInvalidRequest)
	}
	problem.Write(ctx, p)
	ctx.SetConnectionClose()
	lingerOnClose(ctx.Conn())
}
