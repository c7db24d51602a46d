package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// front inspects the bytes a client sends before fasthttp parses them, where
// fasthttp is more lenient than a proxy in front of the gateway may be:
//
//   - A bare LF inside a header block is refused (400). fasthttp takes it
//     for a line end, so "X-A: 1\nTransfer-Encoding: chunked" becomes a
//     second header that a proxy passing the LF through never saw: a
//     request smuggling vector. An LF-only request is refused at once
//     rather than left waiting for a CRLF CRLF until the read timeout.
//   - A request line whose version is not HTTP/1.x is refused (505);
//     fasthttp serves "HTTP/2.0" or "HTTP/9.9" as HTTP/1.0.
//   - A header line folded onto the next (obs-fold: a line that starts
//     with a space or a tab) is refused (400). fasthttp joins it to the
//     header before; a proxy may read it as a header of its own, or as
//     garbage. RFC 9112 (5.2) allows a server to refuse it, and a folded
//     Content-Length would otherwise leave front unable to follow the
//     framing, and so to find the next head.
//
// To find where each header block starts on a keep-alive connection, front
// follows the framing of the bodies between them (Content-Length, chunked).
// A request whose framing it cannot follow with certainty (two
// Content-Length headers, a Transfer-Encoding other than chunked or beside
// a Content-Length, a chunk size that is not a number) is refused (400) at the end of its head, once
// each of the head's lines is checked: front never stops inspecting a
// connection that goes on, so the guard holds for all of it. A chunk
// extension, which the gateway ignores, is skipped rather than held,
// however long. Every line it holds is bounded by the header size limit;
// a longer header line ends the inspection, as fasthttp answers it 431 and
// closes the connection. The cost is one pass over the header bytes; a body is skipped by
// length.
type front struct {
	state   int
	maxLine int
	line    []byte // the current line of a header block or chunk size
	cr      bool   // the previous byte was a CR
	ext     bool   // the current chunk-size line is in its extension
	first   bool   // the current line is the request line
	http10  bool   // the request line says HTTP/1.0
	length  int64  // Content-Length, -1 if none
	chunked bool
	lengths int   // Content-Length headers seen
	left    int64 // bytes of the body or chunk left
	// lost: the current head frames its body in a way front cannot
	// follow; front refuses it at the end of the head, once every line
	// of the head is checked.
	lost bool
	// blockAt is where, in the bytes being inspected, the current request
	// head starts (0 if it started before them).
	blockAt int
	// headEnded: a request head ended in the bytes being inspected.
	headEnded bool
	// target holds the path of the current request line as received, up
	// to maxInstance bytes (targetN of them; targetLong: it was longer),
	// for the instance of a problem about the request: fasthttp has not
	// parsed a request it could not read.
	target     [maxInstance]byte
	targetN    int
	targetLong bool
}

// States of front.
const (
	frontHeader      = iota // in a header block
	frontBody               // in a body of known length
	frontChunkSize          // in a chunk-size line
	frontChunkData          // in a chunk's data
	frontChunkCRLF          // in the CRLF after a chunk's data
	frontTrailer            // in the trailer section
	frontPassthrough        // no longer inspecting
)

// maxInstance is the most bytes of a path a problem about an unreadable
// request echoes: the path of a request too large to read may be huge.
const maxInstance = 256

// newFront inspects the heads of a new connection, each at most maxLine
// bytes.
func newFront(maxLine int) front {
	return front{maxLine: maxLine, first: true, length: -1}
}

// errRefused ends the reading of a connection that front refused: fasthttp
// sees the end of its input, and its own answer, if any, is dropped.
var errRefused = io.EOF

// inspect checks the bytes b just read; it returns a refusal problem if
// they break the rules above, and how many of the bytes come before the
// head of the refused request: those belong to earlier requests, which are
// served first.
func (f *front) inspect(b []byte) (*problem.Problem, int) {
	f.blockAt = 0
	for i := 0; i < len(b); {
		switch f.state {
		case frontPassthrough:
			return nil, 0
		case frontBody, frontChunkData:
			n := min(int64(len(b)-i), f.left)
			f.left -= n
			i += int(n)
			if f.left == 0 {
				if f.state == frontBody {
					f.startRequest(i)
				} else {
					f.state, f.left = frontChunkCRLF, 2
				}
			}
			continue
		case frontChunkCRLF:
			i++
			if f.left--; f.left == 0 {
				f.state = frontChunkSize
			}
			continue
		}
		// A line: of a header block, a chunk size or a trailer. Its bytes
		// up to the LF, or to the end of b, are taken at once; a line
		// whole in b is read where it is, one that goes on in the next
		// read is held in f.line.
		end := len(b)
		if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
			end = i + j
		}
		raw := b[i:end]
		if len(raw) > 0 {
			f.cr = raw[len(raw)-1] == '\r'
		}
		keep := raw
		if f.ext {
			keep = nil // an extension does not frame anything
		} else if f.state == frontChunkSize {
			if k := bytes.IndexByte(raw, ';'); k >= 0 {
				keep, f.ext = raw[:k], true
			}
		}
		if len(f.line)+len(keep) > f.maxLine {
			if f.state != frontHeader {
				return f.refuse(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
					fmt.Sprintf("a chunk-size or trailer line exceeds %d bytes", f.maxLine)), f.blockAt
			}
			f.state = frontPassthrough // fasthttp answers 431
			return nil, 0
		}
		if end == len(b) {
			f.line = append(f.line, keep...)
			break
		}
		i = end + 1 // past the LF
		if !f.cr && f.state != frontChunkSize && f.state != frontTrailer {
			return f.refuse(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
				"a line of the request head ends in a bare LF; HTTP/1.1 lines end in CRLF"), f.blockAt
		}
		f.cr, f.ext = false, false
		line := keep
		if len(f.line) > 0 {
			f.line = append(f.line, keep...)
			line = f.line
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		f.line = f.line[:0]
		if p := f.endLine(line, i); p != nil {
			return p, f.blockAt
		}
	}
	return nil, 0
}

// endLine handles a whole line, without its CRLF; next is the index of the
// byte after it.
func (f *front) endLine(line []byte, next int) *problem.Problem {
	switch f.state {
	case frontChunkSize:
		// The extension, if any, was skipped: the line is the size.
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		switch {
		case err != nil || n < 0:
			return f.refuse(problem.TypeInvalidRequest, fasthttp.StatusBadRequest, "a chunk size is not a hexadecimal number")
		case n == 0:
			f.state = frontTrailer
		default:
			f.state, f.left = frontChunkData, n
		}
		return nil
	case frontTrailer:
		if len(line) == 0 {
			f.startRequest(next)
		}
		return nil
	}
	if f.first {
		if len(line) == 0 {
			return nil // empty lines before a request line are ignored (RFC 9112, 2.2)
		}
		f.first = false
		return f.requestLine(line)
	}
	if len(line) > 0 {
		if line[0] == ' ' || line[0] == '\t' {
			return f.refuse(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
				"a header line starts with whitespace (obs-fold); send each header on one line")
		}
		f.header(line)
		return nil
	}
	// The end of the header block.
	f.headEnded = true
	switch {
	case f.lost || f.chunked && f.lengths > 0:
		// Both headers: fasthttp would follow Transfer-Encoding, a proxy
		// in front may have followed Content-Length (RFC 9112, 6.3: to
		// be handled as an error).
		return f.refuse(problem.TypeInvalidRequest, fasthttp.StatusBadRequest,
			"the body's framing is ambiguous or not supported: one Content-Length of digits, or Transfer-Encoding: chunked alone on HTTP/1.1")
	case f.chunked:
		f.state = frontChunkSize
	case f.length > 0:
		f.state, f.left = frontBody, f.length
	default:
		f.startRequest(next)
	}
	return nil
}

// startRequest expects the head of the next request at index at.
func (f *front) startRequest(at int) {
	f.state, f.first, f.http10, f.length, f.chunked, f.lengths, f.lost = frontHeader, true, false, -1, false, 0, false
	f.targetN, f.targetLong = 0, false
	f.blockAt = at
}

// requestLine checks the version of a request line, and keeps the path of
// its target. Any other fault is fasthttp's to find.
func (f *front) requestLine(line []byte) *problem.Problem {
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 {
		return nil
	}
	if first := bytes.IndexByte(line, ' '); first < sp {
		path := targetPath(line[first+1 : sp])
		f.targetN, f.targetLong = copy(f.target[:], path), len(path) > maxInstance
	}
	v := line[sp+1:]
	if len(v) == 8 && bytes.HasPrefix(v, []byte("HTTP/")) && v[6] == '.' && isDigit(v[5]) && isDigit(v[7]) && v[5] != '1' {
		return f.refuse(problem.TypeVersionNotSupported, fasthttp.StatusHTTPVersionNotSupported,
			fmt.Sprintf("HTTP version %s is not supported; the gateway speaks HTTP/1.1", v))
	}
	f.http10 = bytes.Equal(v, []byte("HTTP/1.0"))
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// targetPath is the path of a request target: without its query, and
// without the scheme and authority of an absolute form; nil for a target
// without a path ("*", an authority).
func targetPath(target []byte) []byte {
	if i := bytes.Index(target, []byte("://")); i >= 0 && target[0] != '/' {
		rest := target[i+3:]
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return nil
		}
		target = rest[j:]
	}
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if len(target) == 0 || target[0] != '/' {
		return nil
	}
	return target
}

// instance is the path of the current request as received, for a
// problem's instance: at most maxInstance bytes, then "..."; "" if its
// request line has not arrived whole or has no path.
func (f *front) instance() string {
	if f.targetLong {
		return string(f.target[:f.targetN]) + "..."
	}
	return string(f.target[:f.targetN])
}

// header follows the headers that frame the body.
func (f *front) header(line []byte) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	value = bytes.TrimSpace(value)
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if f.lengths++; err != nil || n < 0 || f.lengths > 1 {
			f.lost = true
			return
		}
		f.length = n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		if f.chunked || f.http10 || !bytes.EqualFold(value, []byte("chunked")) {
			f.lost = true
			return
		}
		f.chunked = true
	}
}

// refuse makes the answer to a refused connection.
func (f *front) refuse(typ string, status int, detail string) *problem.Problem {
	p := problem.New(typ, status, detail)
	f.state = frontPassthrough
	return &p
}

// Read reads from the client through front: a request it refuses is
// answered here, with Connection: close, and the connection reads as ended.
// The requests before it on the connection are served first: the bytes
// before its head are returned, and the refusal waits for the next Read,
// which fasthttp makes only once it has sent their answers.
func (c *limitedConn) Read(b []byte) (int, error) {
	if c.refused {
		return 0, errRefused
	}
	if c.pending != nil {
		c.refuse(c.pending)
		return 0, errRefused
	}
	n, err := c.rw.Read(b)
	if n > 0 && c.front.state != frontPassthrough {
		p, before := c.front.inspect(b[:n])
		if c.front.headEnded {
			c.front.headEnded = false
			c.headDone()
		}
		if p != nil {
			if before > 0 {
				c.pending = p
				return before, nil
			}
			c.refuse(p)
			return 0, errRefused
		}
	}
	return n, err
}

func (c *limitedConn) refuse(p *problem.Problem) {
	c.refused = true
	c.limit.onRefused(p.Status)
	p.Instance = c.front.instance()
	var id [32]byte
	_ = c.Conn.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	_, _ = c.Conn.Write(answer(*p, false, appendNewRequestID(id[:0])))
	LingerOnClose(c)
}

// Write writes to the client, unless front or CutAll has answered it:
// fasthttp's own answer is dropped then.
func (c *limitedConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.refused || c.cut {
		return len(b), nil
	}
	c.written = true
	return c.rw.Write(b)
}

var _ net.Conn = (*limitedConn)(nil)
