package server_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"fanout/mockbackends/mock"

	"github.com/valyala/fasthttp"
)

// doWith sends a request with the given header lines ("Name", "value",
// ...) and copies the answer out of fasthttp.
func (g *gateway) doWith(t testing.TB, method, uri string, header ...string) response {
	t.Helper()
	return g.exchange(t, method, uri, func(req *fasthttp.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
	}, func(resp *fasthttp.Response) {
		// The client must not decompress nor ask for anything by itself:
		// the test reads the bytes on the wire.
		if method == fasthttp.MethodHead {
			resp.SkipBody = true
		}
		// Headers as sent: no default Content-Type where none came.
		resp.Header.SetNoDefaultContentType(true)
	})
}

var strongTag = regexp.MustCompile(`^"([0-9a-f]{16})(-gz|-br)?"$`)

// checkCaching asserts the caching headers every GET 200 and 304 carries,
// and returns the ETag.
func checkCaching(t *testing.T, what string, r response) string {
	t.Helper()
	tag := r.header.Get("ETag")
	if !strongTag.MatchString(tag) {
		t.Errorf("%s: ETag %q is not a strong tag of 16 hex digits", what, tag)
	}
	if cc := r.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("%s: Cache-Control %q, want private, no-cache", what, cc)
	}
	if v := r.header.Get("Vary"); v != "Authorization, Accept-Encoding" {
		t.Errorf("%s: Vary %q, want Authorization, Accept-Encoding", what, v)
	}
	return tag
}

// TestETag: every GET 200 carries a strong ETag of its body, the same for
// the same bytes; If-None-Match with a matching tag (weakly compared, in a
// list, or *) gets 304 without a body but with the caching headers; HEAD
// carries the same headers.
func TestETag(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	tags := map[string]string{}
	for _, uri := range []string{
		"/v2/projects/3", "/v2/experiments?project_id=3", "/v2/experiments/42",
		"/v2/experiments/42/results", "/v2/experiments/43", "/openapi.yaml", "/openapi.json",
	} {
		r := g.get(t, uri)
		if r.status != fasthttp.StatusOK {
			t.Fatalf("%s: status %d: %s", uri, r.status, r.body)
		}
		tag := checkCaching(t, uri, r)
		if again := g.get(t, uri).header.Get("ETag"); again != tag {
			t.Errorf("%s: ETag %q then %q for the same body", uri, tag, again)
		}
		for other, otherTag := range tags {
			if otherTag == tag {
				t.Errorf("%s and %s have the same ETag %s", uri, other, tag)
			}
		}
		tags[uri] = tag
	}

	uri := "/v2/experiments/42"
	full := g.get(t, uri)
	tag := full.header.Get("ETag")
	if !strongTag.MatchString(tag) {
		t.Fatalf("%s: no strong ETag to send back", uri)
	}
	for _, c := range []struct {
		inm    string
		status int
		why    string
	}{
		{tag, 304, "the same tag"},
		{"W/" + tag, 304, "weak comparison ignores W/"},
		{`"0000000000000000", ` + tag, 304, "any tag of a list"},
		{`"a",W/` + tag + ` ,"b"`, 304, "a list without spaces, a weak tag, spaces before a comma"},
		{"*", 304, "* matches any current representation"},
		{`"0000000000000000"`, 200, "another tag"},
		{strings.Trim(tag, `"`), 200, "an unquoted tag is not a tag"},
		{tag[:len(tag)-2] + `"`, 200, "a prefix of the tag"},
		{`W/"`, 200, "a tag without its closing quote"},
		{`,,`, 200, "an empty list"},
	} {
		r := g.doWith(t, fasthttp.MethodGet, uri, "If-None-Match", c.inm)
		if r.status != c.status {
			t.Errorf("If-None-Match %s (%s): status %d, want %d", c.inm, c.why, r.status, c.status)
			continue
		}
		checkCaching(t, "If-None-Match "+c.inm, r)
		g.validateResponse(t, fasthttp.MethodGet, uri, r)
		if r.header.Get("ETag") != tag {
			t.Errorf("If-None-Match %s: ETag %q, want %q", c.inm, r.header.Get("ETag"), tag)
		}
		if c.status == 304 {
			if len(r.body) != 0 || r.header.Get("Content-Type") != "" {
				t.Errorf("304: body %q, Content-Type %q; want neither", r.body, r.header.Get("Content-Type"))
			}
		} else if !bytes.Equal(r.body, full.body) {
			t.Errorf("If-None-Match %s: body %s, want %s", c.inm, r.body, full.body)
		}
	}

	// HEAD: the headers of GET, the length of GET's body, no body.
	h := g.doWith(t, fasthttp.MethodHead, uri)
	if h.status != 200 || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(len(full.body)) {
		t.Errorf("HEAD: status %d, body %q, Content-Length %q; want 200, none, %d", h.status, h.body, h.header.Get("Content-Length"), len(full.body))
	}
	if checkCaching(t, "HEAD", h) != tag {
		t.Errorf("HEAD: ETag %q, want GET's %q", h.header.Get("ETag"), tag)
	}
	if h := g.doWith(t, fasthttp.MethodHead, uri, "If-None-Match", tag); h.status != 304 {
		t.Errorf("HEAD If-None-Match: status %d, want 304", h.status)
	}

	// Errors and creates are not representations to cache.
	if r := g.get(t, "/v2/experiments/0"); r.header.Get("ETag") != "" {
		t.Errorf("400: ETag %q", r.header.Get("ETag"))
	}
	if r := g.send(t, post("/v2/experiments", `{"project_id":"3","name":"n"}`)); r.status != 201 || r.header.Get("ETag") != "" {
		t.Errorf("POST: status %d, ETag %q", r.status, r.header.Get("ETag"))
	}
}

// decode undoes a Content-Encoding with decoders of its own: the standard
// library's gzip, and the brotli decoder fasthttp's client uses.
func decode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	switch coding {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		return out
	case "br":
		out, err := fasthttp.AppendUnbrotliBytes(nil, body)
		if err != nil {
			t.Fatalf("unbrotli: %v", err)
		}
		return out
	}
	t.Fatalf("unknown Content-Encoding %q", coding)
	return nil
}

// TestCompression: a body over 1 KB is sent with the coding the client
// prefers among gzip and br (q-values, *, identity;q=0), with its own
// strong ETag, and decompresses to the identity body; a client that sends
// no Accept-Encoding gets the identity body. If-None-Match compares with
// the tag of the representation the client would get.
func TestCompression(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	const big = "/v2/experiments?project_id=1&per_page=100" // 20 experiments, about 14 KB
	plain := g.get(t, big)
	if plain.status != 200 || len(plain.body) <= 1024 {
		t.Fatalf("identity page: status %d, %d bytes; want 200 and over 1 KB", plain.status, len(plain.body))
	}
	if ce := plain.header.Get("Content-Encoding"); ce != "" {
		t.Errorf("no Accept-Encoding: Content-Encoding %q", ce)
	}
	m := strongTag.FindStringSubmatch(checkCaching(t, "identity", plain))
	if m == nil || m[2] != "" {
		t.Fatalf("identity page: ETag %q is not the tag of an identity body", plain.header.Get("ETag"))
	}
	plainTag, hex := m[0], m[1]

	for _, c := range []struct {
		accept, coding, why string
	}{
		{"gzip", "gzip", "gzip alone"},
		{"br", "br", "br alone"},
		{"gzip, deflate, br", "br", "br preferred at equal q"},
		{"gzip;q=1.0, br;q=0.5", "gzip", "the higher q wins"},
		{"br;q=0, gzip", "gzip", "br refused"},
		{"GZIP", "gzip", "codings are case-insensitive"},
		{"*", "br", "* accepts br"},
		{"*;q=0.1, gzip;q=0.2", "gzip", "an explicit coding above *"},
		{"gzip;q=0", "", "gzip refused, identity by default"},
		{"deflate", "", "no coding the gateway has"},
		{"identity", "", "identity asked for"},
		{"identity;q=1, gzip;q=0.5", "", "identity preferred"},
		{"*;q=0", "", "nothing acceptable: identity rather than an error"},
		{"gzip;q=0.000", "", "q=0.000 refuses"},
		{"gzip;q=bad", "", "a q that is not a number refuses"},
		{"", "", "an empty Accept-Encoding"},
	} {
		r := g.doWith(t, fasthttp.MethodGet, big, "Accept-Encoding", c.accept)
		if r.status != 200 {
			t.Fatalf("Accept-Encoding %q: status %d", c.accept, r.status)
		}
		if ce := r.header.Get("Content-Encoding"); ce != c.coding {
			t.Errorf("Accept-Encoding %q (%s): Content-Encoding %q, want %q", c.accept, c.why, ce, c.coding)
			continue
		}
		tag := checkCaching(t, "Accept-Encoding "+c.accept, r)
		want := map[string]string{"": `"` + hex + `"`, "gzip": `"` + hex + `-gz"`, "br": `"` + hex + `-br"`}[c.coding]
		if tag != want {
			t.Errorf("Accept-Encoding %q: ETag %s, want %s", c.accept, tag, want)
		}
		if c.coding != "" && len(r.body) >= len(plain.body)/2 {
			t.Errorf("%s: %d bytes for %d", c.coding, len(r.body), len(plain.body))
		}
		if got := decode(t, c.coding, r.body); !bytes.Equal(got, plain.body) {
			t.Errorf("Accept-Encoding %q: the %s body decodes to %d bytes unlike the identity body's %d", c.accept, c.coding, len(got), len(plain.body))
		}
	}

	// If-None-Match matches the tag of the representation selected.
	gzTag := `"` + hex + `-gz"`
	for _, c := range []struct {
		accept, inm string
		status      int
	}{
		{"gzip", gzTag, 304},
		{"gzip", "W/" + gzTag, 304},
		{"gzip", plainTag, 200},
		{"", gzTag, 200},
		{"", plainTag, 304},
		{"br", gzTag, 200},
	} {
		r := g.doWith(t, fasthttp.MethodGet, big, "Accept-Encoding", c.accept, "If-None-Match", c.inm)
		if r.status != c.status {
			t.Errorf("Accept-Encoding %q, If-None-Match %s: status %d, want %d", c.accept, c.inm, r.status, c.status)
		}
		if c.status == 304 && (len(r.body) != 0 || r.header.Get("ETag") != strings.TrimPrefix(c.inm, "W/")) {
			t.Errorf("304: body %d bytes, ETag %q", len(r.body), r.header.Get("ETag"))
		}
	}

	// HEAD: the compressed representation's headers and length, no body.
	gz := g.doWith(t, fasthttp.MethodGet, big, "Accept-Encoding", "gzip")
	h := g.doWith(t, fasthttp.MethodHead, big, "Accept-Encoding", "gzip")
	if h.status != 200 || len(h.body) != 0 || h.header.Get("Content-Encoding") != "gzip" ||
		h.header.Get("ETag") != gzTag || h.header.Get("Content-Length") != strconv.Itoa(len(gz.body)) {
		t.Errorf("HEAD gzip: status %d, %d bytes, Content-Encoding %q, ETag %q, Content-Length %q; want 200, 0, gzip, %s, %d",
			h.status, len(h.body), h.header.Get("Content-Encoding"), h.header.Get("ETag"), h.header.Get("Content-Length"), gzTag, len(gz.body))
	}

	// A body of 1 KB or less is sent as it is, unless identity is refused.
	const small = "/v2/projects/1"
	s := g.doWith(t, fasthttp.MethodGet, small, "Accept-Encoding", "gzip, br")
	if s.status != 200 || len(s.body) > 1024 || s.header.Get("Content-Encoding") != "" {
		t.Errorf("small body: status %d, %d bytes, Content-Encoding %q; want 200, <= 1 KB, none", s.status, len(s.body), s.header.Get("Content-Encoding"))
	}
	s2 := g.doWith(t, fasthttp.MethodGet, small, "Accept-Encoding", "gzip, identity;q=0")
	if ce := s2.header.Get("Content-Encoding"); ce != "gzip" || !bytes.Equal(decode(t, ce, s2.body), s.body) {
		t.Errorf("small body, identity;q=0: Content-Encoding %q", ce)
	}
}
