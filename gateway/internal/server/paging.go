package server

import (
	"strconv"

	"fanout/gateway/internal/backend"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// listParsers parse the pages of the list, for their totals.
var listParsers fastjson.ParserPool

// list answers with a page of the list as the backend sent it, plus what a
// client needs to page through it: total_pages in the body if the backend
// gave only total, and an RFC 8288 Link header with first, prev, next and
// last. The page numbers come from the request (validated against the
// document) and from the backend's total, a number checked here: nothing
// else of the backend's body reaches the header.
func (s *Server) list(r *request) {
	s.proxy(r)
	ctx, op := r.ctx, r.op
	if ctx.Response.StatusCode() != fasthttp.StatusOK {
		return
	}
	page, perPage := pageParam(ctx, op, "page"), pageParam(ctx, op, "per_page")
	if page < 1 || perPage < 1 {
		return // the document's defaults are missing: no page to link
	}
	p := listParsers.Get()
	defer listParsers.Put(p)
	body := ctx.Response.Body()
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return // proxy checked it is JSON; a page that is not an object has no totals
	}
	total, err := v.Get("total").Int64()
	if err != nil || total < 0 {
		// Without a total the last page is unknown: the Link header would
		// mislead, so there is none.
		s.log.Warn("a page of the list has no usable total: no Link header",
			"request_id", string(ctx.Response.Header.Peek(backend.RequestIDHeader)))
		return
	}
	pages := (total + perPage - 1) / perPage
	if v.Get("total_pages") == nil {
		// The body is a JSON object: the field goes before its closing brace.
		end := len(body) - 1
		for end > 0 && body[end] != '}' {
			end--
		}
		b := append([]byte(nil), body[:end]...)
		b = append(b, `,"total_pages":`...)
		b = strconv.AppendInt(b, pages, 10)
		b = append(b, body[end:]...)
		ctx.Response.SetBody(b)
	}
	setLinks(ctx, op.doc.Path, page, max(pages, 1))
}

// pageParam is the value of the integer query parameter name, or its
// default in the document; 0 if it has neither. The request was validated.
func pageParam(ctx *fasthttp.RequestCtx, op *operation, name string) int64 {
	v := string(ctx.QueryArgs().Peek(name))
	if v == "" {
		v = op.doc.Defaults[name]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// setLinks sets the Link header of page of last (RFC 8288): first and
// last always, prev and next where they exist; prev of a page beyond the
// last is the last. Each target is path with the request's query, every
// parameter kept in order and escaped, page set to the target's number.
func setLinks(ctx *fasthttp.RequestCtx, path string, page, last int64) {
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	ctx.QueryArgs().CopyTo(args)
	var b []byte
	link := func(rel string, n int64) {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		args.SetUint("page", int(n))
		b = append(b, '<')
		b = append(b, path...)
		b = append(b, '?')
		b = args.AppendBytes(b)
		b = append(b, `>; rel="`...)
		b = append(b, rel...)
		b = append(b, '"')
	}
	link("first", 1)
	if page > 1 {
		link("prev", min(page-1, last))
	}
	if page < last {
		link("next", page+1)
	}
	link("last", last)
	ctx.Response.Header.SetBytesV("Link", b)
}
