package hardening

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/internal/problem"

	"github.com/valyala/fasthttp"
)

// hostile is one request a client should not send, and the answer the
// gateway owes it.
type hostile struct {
	name   string
	req    string
	status int
	typ    string
	param  string // the invalid_params entry the problem must name, if any
	allow  string // the Allow header of a 405
	head   bool   // a HEAD request: the answer has no body
	// halfClose: the client closes its side after the request, so the
	// server sees the end of a truncated request at once.
	halfClose bool
}

func get(uri string) string {
	return "GET " + uri + " HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n"
}

func post(contentType, body string) string {
	h := ""
	if contentType != "" {
		h = "Content-Type: " + contentType + "\r\n"
	}
	return fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"%sContent-Length: %d\r\n\r\n%s", h, len(body), body)
}

func withHeaders(n, size int) string {
	var b strings.Builder
	b.WriteString("GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "X-Hostile-%d: %s\r\n", i, strings.Repeat("v", size))
	}
	b.WriteString("\r\n")
	return b.String()
}

const (
	invalid    = problem.TypeInvalidRequest
	tooLarge   = problem.TypeTooLarge
	notFound   = problem.TypeNotFound
	notAllowed = problem.TypeMethodNotAllowed
	mediaType  = problem.TypeUnsupportedMediaType

	versionNotSupported = problem.TypeVersionNotSupported
)

// hostileRequests are the cases of TestHostileRequests. The gateway runs
// with the default limits: 8 KiB of request line and headers, 1 MiB bodies.
var hostileRequests = []hostile{
	// Ids: the document's pattern admits decimal digits without a leading
	// zero, at most 18, so nothing else reaches a backend.
	{name: "non-numeric id", req: get("/v2/experiments/abc"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "negative id", req: get("/v2/experiments/-1"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "zero id", req: get("/v2/experiments/0"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "leading zero", req: get("/v2/experiments/007"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "overflowing id", req: get("/v2/experiments/99999999999999999999999999"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "int64 overflow", req: get("/v2/experiments/9223372036854775808"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "exponent id", req: get("/v2/experiments/1e3"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "non-ASCII digits", req: get("/v2/experiments/%D9%A4%D9%A2"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "non-numeric aggregate id", req: get("/v2/experiments/abc/results"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "negative project id", req: get("/v2/projects/-3"), status: 400, typ: invalid, param: "project_id"},
	// A well-formed id that does not exist is the backend's 404, passed on.
	{name: "absent id", req: get("/v2/experiments/999999999999999999"), status: 404, typ: notFound},
	{name: "absent aggregate id", req: get("/v2/experiments/999999999/results"), status: 404, typ: notFound},

	// Query strings.
	{name: "missing required", req: get("/v2/experiments"), status: 400, typ: invalid, param: "project_id"},
	{name: "page zero", req: get("/v2/experiments?project_id=1&page=0"), status: 400, typ: invalid, param: "page"},
	{name: "per_page over", req: get("/v2/experiments?project_id=1&per_page=101"), status: 400, typ: invalid, param: "per_page"},
	{name: "page not a number", req: get("/v2/experiments?project_id=1&page=two"), status: 400, typ: invalid, param: "page"},
	{name: "page overflow", req: get("/v2/experiments?project_id=1&page=99999999999999999999"), status: 400, typ: invalid, param: "page"},
	{name: "repeated parameter", req: get("/v2/experiments?project_id=1&project_id=2"), status: 400, typ: invalid, param: "project_id"},
	{name: "repeated paging", req: get("/v2/experiments?project_id=1&per_page=5&per_page=500"), status: 400, typ: invalid, param: "per_page"},
	{name: "bad percent in query", req: get("/v2/experiments?project_id=%zz"), status: 400, typ: invalid, param: "project_id"},
	{name: "invalid UTF-8 in query", req: get("/v2/experiments?project_id=%FF%FE"), status: 400, typ: invalid, param: "project_id"},
	{name: "huge query string", req: get("/v2/experiments?project_id=1&q=" + strings.Repeat("a", 64<<10)), status: 431, typ: tooLarge},

	// Headers.
	{name: "hundreds of headers", req: withHeaders(400, 20), status: 431, typ: tooLarge},
	{name: "one huge header", req: withHeaders(1, 16<<10), status: 431, typ: tooLarge},
	{name: "header without colon", req: "GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "NoColon\r\n\r\n", status: 400, typ: invalid},

	// Paths. The router matches the path as sent: dot segments are not
	// resolved into another route, and path parameters are matched raw.
	{name: "very long path", req: get("/v2/experiments/" + strings.Repeat("1", 20<<10)), status: 431, typ: tooLarge},
	{name: "long id under the limit", req: get("/v2/experiments/" + strings.Repeat("1", 4<<10)), status: 400, typ: invalid, param: "experiment_id"},
	{name: "invalid UTF-8 in path", req: get("/v2/experiments/\xff\xfe"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "percent-encoded invalid UTF-8", req: get("/v2/experiments/%FF%FE"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "bad percent-encoding", req: get("/v2/experiments/%zz"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "truncated percent-encoding", req: get("/v2/experiments/4%2"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "dot-dot to another route", req: get("/v2/experiments/../projects/1"), status: 404, typ: notFound},
	{name: "dot-dot out of the root", req: get("/v2/experiments/42/../../../../etc/passwd"), status: 404, typ: notFound},
	{name: "dot-dot as the id", req: get("/v2/experiments/../results"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "encoded dot-dot", req: get("/v2/experiments/%2e%2e/results"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "encoded slashes", req: get("/v2/experiments/42%2f..%2f..%2fprojects%2f1"), status: 400, typ: invalid, param: "experiment_id"},
	{name: "double slash", req: get("//v2/experiments/42"), status: 404, typ: notFound},
	{name: "trailing slash", req: get("/v2/experiments/42/"), status: 404, typ: notFound},

	// Bodies of POST /v2/experiments.
	{name: "wrong content type", req: post("text/plain", `{"project_id":"1","name":"x"}`), status: 415, typ: mediaType},
	{name: "form content type", req: post("application/x-www-form-urlencoded", "project_id=1&name=x"), status: 415, typ: mediaType},
	{name: "missing content type", req: post("", `{"project_id":"1","name":"x"}`), status: 415, typ: mediaType},
	{name: "malformed content type", req: post("application/json;;;=", `{"project_id":"1","name":"x"}`), status: 415, typ: mediaType},
	{name: "malformed JSON", req: post("application/json", `{"project_id":`), status: 400, typ: invalid, param: "body"},
	{name: "JSON array", req: post("application/json", `[1,2]`), status: 400, typ: invalid, param: "body"},
	{name: "empty body", req: post("application/json", ``), status: 400, typ: invalid, param: "body"},
	{name: "unknown field", req: post("application/json", `{"project_id":"1","name":"x","admin":true}`), status: 400, typ: invalid},
	{name: "wrong field type", req: post("application/json", `{"project_id":1,"name":"x"}`), status: 400, typ: invalid, param: "project_id"},
	{name: "invalid UTF-8 in JSON", req: post("application/json", "{\"project_id\":\"1\",\"name\":\"\xff\xfe\"}"), status: 400, typ: invalid, param: "body"},
	{name: "deeply nested arrays", req: post("application/json", strings.Repeat("[", 100000)+strings.Repeat("]", 100000)), status: 400, typ: invalid, param: "body"},
	{name: "deeply nested objects", req: post("application/json", `{"project_id":"1","name":"x","x":`+strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5001)), status: 400, typ: invalid},
	// The body validated is the body forwarded: nothing the JSON decoder
	// would silently drop, merge or replace may pass.
	{name: "duplicate JSON key", req: post("application/json", `{"project_id":"1","name":"x","name":"y"}`), status: 400, typ: invalid, param: "body"},
	{name: "trailing data after JSON", req: post("application/json", `{"project_id":"1","name":"x"} {"admin":true}`), status: 400, typ: invalid, param: "body"},
	{name: "lone high surrogate", req: post("application/json", `{"project_id":"1","name":"\ud800"}`), status: 400, typ: invalid, param: "body"},
	{name: "lone low surrogate", req: post("application/json", `{"project_id":"1","name":"a\udc00b"}`), status: 400, typ: invalid, param: "body"},
	{name: "reversed surrogates", req: post("application/json", `{"project_id":"1","name":"\udc00\ud800"}`), status: 400, typ: invalid, param: "body"},
	{name: "charset other than UTF-8", req: post("application/json; charset=iso-8859-1", `{"project_id":"1","name":"x"}`), status: 400, typ: invalid, param: "Content-Type"},
	{name: "gzip content encoding", req: "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 29\r\n\r\n{\"project_id\":\"1\",\"name\":\"x\"}", status: 415, typ: mediaType},
	{name: "oversized body", req: "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n", status: 413, typ: tooLarge},
	{name: "truncated body", req: "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"project_id\":", status: 400, typ: invalid, halfClose: true},
	{name: "negative content length", req: "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: -5\r\n\r\n", status: 400, typ: invalid},
	{name: "bad chunk size", req: "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", status: 400, typ: invalid},

	// Methods.
	{name: "unknown method", req: "BREW /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 405, typ: notAllowed, allow: "GET, HEAD"},
	{name: "lower-case method", req: "get /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 405, typ: notAllowed, allow: "GET, HEAD"},
	{name: "DELETE", req: "DELETE /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 405, typ: notAllowed, allow: "GET, HEAD"},
	{name: "PUT on a collection", req: "PUT /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Length: 0\r\n\r\n", status: 405, typ: notAllowed, allow: "GET, HEAD, POST"},
	{name: "TRACE", req: "TRACE /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 405, typ: notAllowed, allow: "GET, HEAD"},
	{name: "CONNECT", req: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 404, typ: notFound},

	// Not HTTP/1.1 at all.
	{name: "garbage", req: "\x00\x01\x02 hello\r\n\r\n", status: 400, typ: invalid},
	{name: "no protocol version", req: "GET /v2/experiments/42\r\n\r\n", status: 400, typ: invalid},
	// An HTTP/2 prior-knowledge preface is a request line of version 2.0.
	{name: "HTTP/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, typ: versionNotSupported},
	{name: "HTTP/2.0 request line", req: "GET /v2/experiments/42 HTTP/2.0\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 505, typ: versionNotSupported},
	{name: "HTTP/9.9 request line", req: "GET /v2/experiments/42 HTTP/9.9\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 505, typ: versionNotSupported},
	{name: "HTTP/0.9 request line", req: "GET /v2/experiments/42 HTTP/0.9\r\nHost: gateway\r\n" + authHeader + "\r\n", status: 505, typ: versionNotSupported},

	// Line ends. fasthttp takes a bare LF for a line end: behind a proxy
	// that passes it through, the smuggled header is one the proxy never saw.
	{name: "bare LF smuggles a header", req: "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n", status: 400, typ: invalid},
	{name: "bare LF smuggles a length", req: "POST /v2/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-A: 1\nContent-Length: 29\r\n\r\n" + newExperiment, status: 400, typ: invalid},
	{name: "LF-only request", req: "GET /v2/experiments/42 HTTP/1.1\nHost: x\n\n", status: 400, typ: invalid},
	{name: "LF-only request line", req: "GET /v2/experiments/42 HTTP/1.1\nHost: x\r\n\r\n", status: 400, typ: invalid},
	// A header folded over two lines (obs-fold) is joined by some parsers
	// and read as two headers, or a header and garbage, by others: it is
	// refused (RFC 9112, 5.2, allows either) rather than read one way
	// while a proxy in front read it the other.
	{name: "folded header", req: "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n" + authHeader + "X-A: 1\r\n 2\r\n\r\n", status: 400, typ: invalid},
	// A framing the gateway cannot be sure a proxy in front read the same
	// way is refused, and the guard stays on for what follows.
	{name: "Content-Length beside chunked", req: "POST /v2/experiments HTTP/1.1\r\nHost: x\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: 29\r\nTransfer-Encoding: chunked\r\n\r\n" + newExperiment, status: 400, typ: invalid},
	{name: "transfer coding other than chunked", req: "POST /v2/experiments HTTP/1.1\r\nHost: x\r\n" + authHeader + "Content-Type: application/json\r\nTransfer-Encoding: identity\r\nContent-Length: 29\r\n\r\n" + newExperiment, status: 400, typ: invalid},
	{name: "folded Content-Length", req: "POST /v2/experiments HTTP/1.1\r\nHost: x\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length:\r\n\t29\r\n\r\n" + newExperiment, status: 400, typ: invalid},
}

// pipelined are hostile requests that come after others on a keep-alive
// connection: the bare-LF guard must stay on for the whole connection,
// whatever the requests before it looked like.
var pipelined = []struct {
	name     string
	reqs     []string
	statuses []int // the answers in order; the last one closes the connection
}{
	{
		name: "bare LF after a long chunk extension",
		reqs: []string{
			"POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x;ext=%s\r\n%s\r\n0\r\n\r\n", len(newExperiment), strings.Repeat("e", 9<<10), newExperiment),
			"GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "X-A: 1\nTransfer-Encoding: chunked\r\n\r\n",
		},
		statuses: []int{201, 400},
	},
	{
		name: "bare LF after a folded Content-Length",
		reqs: []string{
			"POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length:\r\n 29\r\n\r\n" + newExperiment,
			"GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "X-A: 1\nTransfer-Encoding: chunked\r\n\r\n",
		},
		statuses: []int{400},
	},
	{
		name: "bare LF after a valid chunked body",
		reqs: []string{
			"POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(newExperiment), newExperiment),
			"GET /v2/experiments/42 HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "X-A: 1\nX-B: 2\r\n\r\n",
		},
		statuses: []int{201, 400},
	},
}

// TestBareLFGuardStaysOn sends each pipelined sequence on one connection
// and checks every answer: the hostile request is refused with an invalid
// request problem, however the requests before it were framed, and the
// connection is closed after it.
func TestBareLFGuardStaysOn(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	for _, c := range pipelined {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, "127.0.0.1", g.addr)
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = io.WriteString(conn, strings.Join(c.reqs, "")) }()
			br := bufio.NewReader(conn)
			for i, want := range c.statuses {
				var resp fasthttp.Response
				if err := resp.Read(br); err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				if resp.StatusCode() != want {
					t.Fatalf("answer %d: status %d, want %d: %s", i, resp.StatusCode(), want, resp.Body())
				}
				if i == len(c.statuses)-1 {
					checkProblem(t, answer{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()), body: resp.Body()}, want, invalid)
				}
			}
			if n, err := br.ReadByte(); err == nil {
				t.Errorf("the connection is still open after the refusal: read %q", n)
			}
		})
	}
}

// TestHostileRequests sends each hostile request on its own connection and
// checks its specific 4xx problem, while a well-behaved client keeps being
// served: never a 5xx, never a panic, never a hang.
func TestHostileRequests(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{})
	warm := &fasthttp.HostClient{Addr: g.addr}
	baseline := warmUp(t, g, warm)

	stop := make(chan struct{})
	good := make(chan error, 1)
	served := 0
	go func() { good <- keepServing(g.addr, stop, &served) }()

	t.Run("cases", func(t *testing.T) {
		for _, c := range hostileRequests {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				a, err := exchange(t, g.addr, []byte(c.req), c.head, c.halfClose)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if c.head {
					if a.status != c.status || a.allow != c.allow {
						t.Errorf("status %d Allow %q, want %d %q", a.status, a.allow, c.status, c.allow)
					}
					return
				}
				p := checkProblem(t, a, c.status, c.typ)
				if c.allow != "" && a.allow != c.allow {
					t.Errorf("Allow %q, want %q", a.allow, c.allow)
				}
				if c.param != "" {
					named := false
					for _, ip := range p.InvalidParams {
						named = named || ip.Name == c.param
					}
					if !named {
						t.Errorf("invalid_params %+v do not name %q", p.InvalidParams, c.param)
					}
				}
			})
		}
	})
	close(stop)
	if err := <-good; err != nil {
		t.Errorf("a well-behaved client was not served meanwhile: %v", err)
	}
	if served == 0 {
		t.Error("the well-behaved client got no answer at all")
	}
	// Every hostile connection is closed: nothing of them stays behind.
	settleGoroutines(t, g, baseline, 2)
	var metrics bytes.Buffer
	g.srv.Metrics().WritePrometheus(&metrics)
	if !strings.Contains(metrics.String(), `fanout_errors_total{kind="internal"} 0`) {
		t.Errorf("internal errors (panics) counted:\n%s", grep(metrics.String(), "fanout_errors_total"))
	}
}

// keepServing asks for the results page over keep-alive connections until
// stop is closed; any answer but 200 is an error.
func keepServing(addr string, stop <-chan struct{}, served *int) error {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 2}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		status, body, err := authGet(client, "http://gateway/v2/experiments/42/results", 5*time.Second)
		if err != nil {
			return err
		}
		if status != fasthttp.StatusOK {
			return fmt.Errorf("status %d: %.200s", status, body)
		}
		*served++
		time.Sleep(2 * time.Millisecond)
	}
}

// grep returns the sample lines of text in the Prometheus format that
// contain substr; the # HELP and # TYPE lines, which name the family
// too, are left out.
func grep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
