package hardening

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/spec"

	"github.com/valyala/fasthttp"
)

func TestProbe(t *testing.T) {
	f := backendtest.New()
	defer f.Close()
	addr, _ := f.TCP()
	b, _ := os.ReadFile("../../openapi.yaml")
	doc, err := spec.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	exec, _ := fanout.New("concurrent", fanout.Options{})
	bs := map[string]backend.Backend{}
	for n, a := range backendtest.Addrs(addr) {
		bs[n] = backend.Backend{Addr: a}
	}
	cl, _ := backend.New(bs, backend.Options{})
	srv, err := server.New(server.Config{Spec: doc, Executor: exec, Backends: cl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	raw := func(name, req string) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		go func() { io.WriteString(c, req) }()
		var resp fasthttp.Response
		err = resp.Read(bufio.NewReader(c))
		body := string(resp.Body())
		if len(body) > 200 {
			body = body[:200]
		}
		fmt.Printf("%-28s %d %-28s %v %s\n", name, resp.StatusCode(), resp.Header.ContentType(), err, body)
	}
	get := func(name, uri string) { raw(name, "GET "+uri+" HTTP/1.1\r\nHost: x\r\n\r\n") }
	get("ok", "/v2/experiments/42")
	get("non-numeric", "/v2/experiments/abc")
	get("negative", "/v2/experiments/-1")
	get("zero", "/v2/experiments/0")
	get("overflow", "/v2/experiments/99999999999999999999999999")
	get("max int64+", "/v2/experiments/9223372036854775808")
	get("18 digits", "/v2/experiments/999999999999999999")
	get("leading zero", "/v2/experiments/042")
	get("results abc", "/v2/experiments/abc/results")
	get("huge query", "/v2/experiments?project_id=1&x="+strings.Repeat("a", 100000))
	get("big query 3k", "/v2/experiments?project_id=1&x="+strings.Repeat("a", 3000))
	get("repeated", "/v2/experiments?project_id=1&project_id=2")
	get("repeated page", "/v2/experiments?project_id=1&page=1&page=2")
	get("long path", "/v2/experiments/"+strings.Repeat("1", 20000))
	get("long path 2k", "/v2/experiments/"+strings.Repeat("1", 2000))
	get("utf8 pct", "/v2/experiments/%FF%FE")
	get("utf8 raw", "/v2/experiments/\xff\xfe")
	get("bad pct", "/v2/experiments/%zz")
	get("bad pct2", "/v2/experiments/4%2")
	get("bad pct query", "/v2/experiments?project_id=%zz")
	get("dotdot", "/v2/experiments/../projects/1")
	get("dotdot2", "/v2/experiments/42/../../projects/1")
	get("dotdot enc", "/v2/experiments/%2e%2e/results")
	get("dotdot slash enc", "/v2/experiments/42%2f..%2f..%2fprojects%2f1")
	get("etc passwd", "/../../../../etc/passwd")
	get("page 0", "/v2/experiments?project_id=1&page=0")
	get("per_page 101", "/v2/experiments?project_id=1&per_page=101")
	get("page big", "/v2/experiments?project_id=1&page=99999999999999999999")
	get("no project", "/v2/experiments")
	var hs strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&hs, "X-Hostile-%d: %s\r\n", i, strings.Repeat("v", 30))
	}
	raw("500 headers", "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n"+hs.String()+"\r\n")
	hs.Reset()
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&hs, "X-H%d: v\r\n", i)
	}
	raw("200 small headers", "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n"+hs.String()+"\r\n")
	post := func(name, ct, body string) {
		h := ""
		if ct != "" {
			h = "Content-Type: " + ct + "\r\n"
		}
		raw(name, fmt.Sprintf("POST /v2/experiments HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", h, len(body), body))
	}
	good := `{"project_id":"1","name":"x"}`
	post("post ok", "application/json", good)
	post("post text/plain", "text/plain", good)
	post("post no ct", "", good)
	post("post form", "application/x-www-form-urlencoded", "a=b")
	post("post xml", "application/xml", "<a/>")
	post("malformed json", "application/json", `{"project_id":`)
	post("not object", "application/json", `[1,2]`)
	post("empty body", "application/json", ``)
	post("unknown field", "application/json", `{"project_id":"1","name":"x","evil":1}`)
	post("nested 100k", "application/json", strings.Repeat("[", 100000)+strings.Repeat("]", 100000))
	post("nested obj 5k", "application/json", `{"project_id":"1","name":"x","extra":`+strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)+"}")
	post("nested 9k", "application/json", `{"project_id":"1","name":`+strings.Repeat("[", 9000)+strings.Repeat("]", 9000)+"}")
	post("oversized 2MB", "application/json", `{"name":"`+strings.Repeat("a", 2<<20)+`"}`)
	post("bad utf8 json", "application/json", "{\"project_id\":\"1\",\"name\":\"\xff\xfe\"}")
	raw("truncated body", "POST /v2/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
	raw("bad chunked", "POST /v2/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
	raw("CL+TE", "POST /v2/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	raw("neg CL", "POST /v2/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n")
	raw("FOO method", "FOO /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("DELETE", "DELETE /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("TRACE", "TRACE /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	raw("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("garbage", "\x00\x01\x02 hello\r\n\r\n")
	raw("no version", "GET /v2/experiments/42\r\n\r\n")
	raw("header no colon", "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\nBadHeader\r\n\r\n")
	raw("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	raw("absolute uri", "GET http://evil.com/v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("lowercase get", "get /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
	raw("HEAD", "HEAD /v2/experiments/42 HTTP/1.1\r\nHost: x\r\n\r\n")
}
