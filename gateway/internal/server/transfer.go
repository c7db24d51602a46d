package server

import (
	"bytes"
	"fmt"
	"sync"

	"fanout/gateway/internal/backend"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/gzip"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// The caching headers of every GET 200 and 304.
const (
	// cacheControl lets the client keep a page, for itself only (the
	// pages depend on who asks), and has it revalidate before each use:
	// results change as visitors convert, and the revalidation costs the
	// client a 304 without a body.
	cacheControl = "private, no-cache"
	// vary names what, beyond the URI, selects the representation: the
	// token (what the client may see) and the content coding.
	vary = "Authorization, Accept-Encoding"
)

// The caching headers as bytes, their names as fasthttp normalises them
// (ETag is Etag, as a fasthttp Peek looks it up): set on every GET 200
// without normalising the names again.
var (
	cacheControlKey, cacheControlValue = []byte(fasthttp.HeaderCacheControl), []byte(cacheControl)
	varyKey, varyValue                 = []byte(fasthttp.HeaderVary), []byte(vary)
	etagKey                            = []byte("Etag")
)

// compressAbove is the largest body, in bytes, sent as it is to a client
// that accepts a compressed one: below about 1 KB the bytes saved do not pay
// for the CPU, and a body fits in a packet or two anyway.
const compressAbove = 1024

// Compression levels: the fastest ones. A page is compressed afresh on
// every request, so the CPU per page matters more than the last bytes. On
// a 3 KB results page from the mock backends (median of 3, a shared
// 2-core machine):
//
//	brotli 0  7.2 us  1026 bytes
//	brotli 1  10 us    970 bytes
//	gzip 1    12 us    933 bytes
//	brotli 2  15.6 us  922 bytes
//
// In the gateway, brotli 1 added 9.2 % to the CPU of a page and brotli 0
// 5.6 % (each beside the same gateway asked for identity): its one-pass
// encoder also touches less memory, which the rest of the request then
// finds still in the caches. For that, brotli 0 sends 6 % more bytes than
// brotli 1: a third of the page either way. Brotli 0 is also why br comes
// before gzip at equal q.
const (
	gzipLevel   = gzip.BestSpeed
	brotliLevel = 0
)

// The writers are pooled: one is tens of kilobytes of tables. They are
// used directly rather than through fasthttp's compress helpers, which hand
// every body to another goroutine (to spare the callers' stacks) and cost
// a quarter to a half more per page.
var (
	gzipWriters = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(nil, gzipLevel) // the level is valid
		return zw
	}}
	brotliWriters = sync.Pool{New: func() any {
		zw, _ := brotli.NewWriter(nil, brotliLevel) // the level is valid
		return zw
	}}
)

// coding is a content coding the gateway can send.
type coding uint8

const (
	identity coding = iota
	codingGzip
	codingBrotli
)

// codingNames are the codings' Content-Encoding tokens; codingSuffixes
// mark their ETags, inside the quotes, so that each representation has a
// strong tag of its own (RFC 9110, 8.8.3.3).
var (
	codingNames    = [...]string{identity: "", codingGzip: "gzip", codingBrotli: "br"}
	codingSuffixes = [...]string{identity: "", codingGzip: "-gz", codingBrotli: "-br"}
)

// finishGET finishes a GET 200 (and its HEAD): it sets the caching headers
// and a strong ETag, the 64-bit xxhash of the identity body, which takes
// well under a microsecond for a page; answers 304 without a body if
// If-None-Match matches the tag of the representation the client would get;
// and otherwise compresses a body over compressAbove with the coding the
// client prefers. A client that sends no Accept-Encoding costs one header
// lookup and the hash. HEAD gets the headers of GET, so it is compressed
// too: its Content-Length is the compressed length.
func (s *Server) finishGET(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	if resp.StatusCode() != fasthttp.StatusOK {
		return
	}
	body := resp.Body()
	c := identity
	if ae := ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding); len(ae) > 0 {
		c = negotiate(ae, len(body) > compressAbove)
	}
	var buf [24]byte
	tag := appendETag(buf[:0], xxhash.Sum64(body), c)

	h := &resp.Header
	h.SetCanonical(cacheControlKey, cacheControlValue)
	h.SetCanonical(varyKey, varyValue)
	h.SetCanonical(etagKey, tag)
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && noneMatchHas(inm, tag) {
		// A 304 carries the caching headers of the 200 it stands for, but
		// no body and no Content-Type (RFC 9110, 15.4.5).
		resp.ResetBody()
		resp.SetStatusCode(fasthttp.StatusNotModified)
		h.SetNoDefaultContentType(true)
		h.SetContentTypeBytes(nil)
		return
	}
	if c == identity {
		return
	}
	bb := bytebufferpool.Get()
	defer bytebufferpool.Put(bb)
	if err := compress(bb, c, body); err != nil {
		// The representation sent is then the identity one, whose tag
		// has no suffix.
		s.log.Error("compress a response body", "coding", codingNames[c], "error", err,
			"request_id", string(resp.Header.Peek(backend.RequestIDHeader)))
		h.SetBytesV(fasthttp.HeaderETag, appendETag(buf[:0], xxhash.Sum64(body), identity))
		return
	}
	resp.SetBody(bb.B)
	h.SetContentEncoding(codingNames[c])
}

// compress writes body to dst in coding c, with a pooled writer.
func compress(dst *bytebufferpool.ByteBuffer, c coding, body []byte) error {
	dst.Reset()
	switch c {
	case codingGzip:
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(dst)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	case codingBrotli:
		zw := brotliWriters.Get().(*brotli.Writer)
		defer brotliWriters.Put(zw)
		// The size hint lets the encoder size its window and tables to
		// the body instead of a stream of unknown length.
		zw.ResetWithSizeHint(dst, uint(len(body)))
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("br: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("br: %w", err)
		}
	default:
		return fmt.Errorf("no compressor for coding %d", c)
	}
	return nil
}

// appendETag appends the strong entity tag of a body whose identity bytes
// hash to sum, sent with coding c: sixteen hex digits and the coding's
// suffix, quoted.
func appendETag(b []byte, sum uint64, c coding) []byte {
	const digits = "0123456789abcdef"
	b = append(b, '"')
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[sum>>shift&0xf])
	}
	b = append(b, codingSuffixes[c]...)
	return append(b, '"')
}

// negotiate picks the coding of a body from the Accept-Encoding field ae
// (RFC 9110, 12.5.3): the acceptable coding with the highest q, br before
// gzip before identity at equal q. A coding absent from the field takes the
// q of "*" if there is one; identity unnamed is acceptable unless "*;q=0"
// refuses it, but comes last. A body that is not big stays identity unless
// the client refuses identity. When nothing is acceptable the body is sent
// as it is, as RFC 9110 allows, rather than refused.
func negotiate(ae []byte, big bool) coding {
	qBr, qGzip, qIdentity, qAny := -1, -1, -1, -1
	for len(ae) > 0 {
		var elem []byte
		elem, ae, _ = bytes.Cut(ae, []byte{','})
		name, params, _ := bytes.Cut(elem, []byte{';'})
		name = bytes.TrimSpace(name)
		q := qvalue(params)
		switch {
		case bytes.EqualFold(name, []byte("br")):
			qBr = q
		case bytes.EqualFold(name, []byte("gzip")), bytes.EqualFold(name, []byte("x-gzip")):
			qGzip = q
		case bytes.EqualFold(name, []byte("identity")):
			qIdentity = q
		case len(name) == 1 && name[0] == '*':
			qAny = q
		}
	}
	if qAny >= 0 {
		qBr, qGzip, qIdentity = or(qBr, qAny), or(qGzip, qAny), or(qIdentity, qAny)
	}
	// Identity unnamed is acceptable, but below any coding the client
	// names: "br;q=0.5" asks for br.
	qBr, qGzip, qIdentity = max(qBr, 0), max(qGzip, 0), or(qIdentity, 1)
	best, qBest := codingBrotli, qBr
	if qGzip > qBr {
		best, qBest = codingGzip, qGzip
	}
	switch {
	case qBest == 0:
		return identity
	case !big && qIdentity > 0:
		return identity
	case qIdentity > qBest:
		return identity
	}
	return best
}

// or is q, or def if q is unset (negative).
func or(q, def int) int {
	if q < 0 {
		return def
	}
	return q
}

// qvalue reads the weight among the parameters of an Accept-Encoding
// element, in thousandths: 1000 without one, 0 for one that is not a
// qvalue ("0" or "1" with up to three decimals), which refuses the coding
// rather than guess.
func qvalue(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || len(v) > 5 || (v[0] != '0' && v[0] != '1') || (len(v) > 1 && v[1] != '.') {
			return 0
		}
		q := int(v[0]-'0') * 1000
		scale := 100
		for _, d := range v[min(len(v), 2):] {
			if d < '0' || d > '9' {
				return 0
			}
			q += int(d-'0') * scale
			scale /= 10
		}
		if q > 1000 {
			return 0
		}
		return q
	}
	return 1000
}

// noneMatchHas reports whether the If-None-Match field lists tag, by the
// weak comparison RFC 9110 (13.1.2) prescribes for it (W/ is ignored), or
// is "*", which any current representation matches. Entity tags are
// quoted strings that may hold commas, so the field is scanned tag by tag
// rather than split; an element that is not a tag is skipped.
func noneMatchHas(field, tag []byte) bool {
	for {
		field = bytes.TrimLeft(field, " \t,")
		if len(field) == 0 {
			return false
		}
		if field[0] == '*' {
			rest := bytes.TrimLeft(field[1:], " \t")
			return len(rest) == 0 || rest[0] == ','
		}
		field, _ = bytes.CutPrefix(field, []byte("W/"))
		if len(field) > 0 && field[0] == '"' {
			end := bytes.IndexByte(field[1:], '"')
			if end < 0 {
				return false
			}
			if bytes.Equal(field[:end+2], tag) {
				return true
			}
			field = field[end+2:]
		}
		// Whatever follows, up to the next comma, is not part of a tag.
		i := bytes.IndexByte(field, ',')
		if i < 0 {
			return false
		}
		field = field[i:]
	}
}
