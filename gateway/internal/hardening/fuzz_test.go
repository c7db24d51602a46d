package hardening

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// FuzzRequest sends arbitrary requests (method, request target, header
// lines, body) through the whole server, HTTP parser included, in front of
// healthy backends. Whatever the input, the gateway answers, never with a
// 5xx but 505, and every error is a problem+json whose status is the response's.
// Seeds: testdata/fuzz/FuzzRequest and the hostile requests' shapes below.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/v2/experiments/42/results", "", []byte(nil))
	f.Add("GET", "/v2/experiments?project_id=3&page=2&per_page=5", "Accept: application/json", []byte(nil))
	f.Add("POST", "/v2/experiments", "Content-Type: application/json", []byte(`{"project_id":"3","name":"n"}`))
	f.Add("POST", "/v2/experiments", "Content-Type: text/plain", []byte(`{"project_id":"3","name":"n"}`))
	f.Add("GET", "/v2/experiments/%FF%2e%2e/results", "", []byte(nil))
	f.Add("BREW", "/v2/projects/-1", "X-A: b\r\nX-A: c", []byte("x"))
	f.Add("POST", "/v2/experiments", "Content-Type: application/json\r\nTransfer-Encoding: chunked", []byte("5\r\n{\"a\":\r\n0\r\n\r\n"))

	ln, stop := fuzzGateway(f)
	defer stop()
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		if headers != "" {
			headers += "\r\n"
		}
		req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gateway\r\n"+authHeader+"%sContent-Length: %d\r\n\r\n", method, target, headers, len(body))
		c, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { _, _ = c.Write(append([]byte(req), body...)) }()
		var resp fasthttp.Response
		resp.SkipBody = method == fasthttp.MethodHead
		if err := resp.Read(bufio.NewReader(c)); err != nil {
			t.Fatalf("no answer to %q: %v", req, err)
		}
		status := resp.StatusCode()
		// 505 is the client's mistake, whatever its class: a request line
		// of a version other than HTTP/1.x.
		if status >= 500 && status != fasthttp.StatusHTTPVersionNotSupported {
			t.Fatalf("%q: status %d: %s", req, status, resp.Body())
		}
		if status < 400 || resp.SkipBody {
			return
		}
		if ct := string(resp.Header.ContentType()); ct != problem.ContentType {
			t.Fatalf("%q: status %d with Content-Type %q", req, status, ct)
		}
		var p problem.Problem
		if err := json.Unmarshal(resp.Body(), &p); err != nil || p.Status != status || p.Type == "" {
			t.Fatalf("%q: status %d, problem %s (%v)", req, status, resp.Body(), err)
		}
	})
}

// fuzzGateway serves a gateway on an in-memory listener in front of the
// fake backends, with a short read timeout so that an input that leaves a
// request unfinished costs little.
func fuzzGateway(f *testing.F) (*fasthttputil.InmemoryListener, func()) {
	fake := backendtest.New()
	cfg := config.Default()
	cfg.Backends = config.Backends(backendtest.Addrs("fake:1"))
	cfg.Options.Dial = fake.InMemory()
	cfg.Deadline = time.Second
	cfg.Limits = server.Limits{ReadTimeout: 100 * time.Millisecond}
	// The inputs carry the test token: without it every /v2 input would
	// stop at the 401 and the fuzzer would explore nothing behind it.
	cfg = assemblytest.Authorize(f, cfg)
	gw, err := assembly.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	gw.Start(ln, nil)
	return ln, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		fake.Close()
	}
}
