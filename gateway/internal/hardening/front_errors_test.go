package hardening

import (
	"encoding/json"
	"strings"
	"testing"

	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
)

// TestFrontErrorsNameTheRequest: the answers to requests refused before
// any operation handles them (not HTTP/1.1, too large, too slow) carry an
// X-Request-Id, as every answer does, and their problem's instance is the
// request's path as it was received, without its query and bounded; a
// request whose path never arrived has no instance.
func TestFrontErrorsNameTheRequest(t *testing.T) {
	g := startGateway(t, startCluster(t), gatewayOptions{limits: server.Limits{HeaderTimeout: shortTimeout}})
	long := "/v2/experiments/" + strings.Repeat("a", 300)
	for _, c := range []struct {
		name, req string
		status    int
		instance  string
	}{
		{"HTTP/2.0", "GET /v2/experiments/42?a=1 HTTP/2.0\r\nHost: x\r\n\r\n", 505, "/v2/experiments/42"},
		{"absolute form", "GET http://gateway/v2/experiments/42?a=1 HTTP/9.9\r\nHost: x\r\n\r\n", 505, "/v2/experiments/42"},
		{"bare LF", "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n", 400, "/v2/experiments/42"},
		{"folded header", "GET /v2/experiments/42 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400, "/v2/experiments/42"},
		{"headers too large", withHeaders(3, 4<<10), 431, "/v2/experiments/42"},
		{"body too large", "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + authHeader + "Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n", 413, "/v2/experiments"},
		{"long path", "GET " + long + " HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n", 400, long[:256] + "..."},
		{"not HTTP", "HELLO\r\n\r\n", 400, ""},
		{"silent", "", 408, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := exchange(t, g.addr, []byte(c.req), false, false)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			var p problem.Problem
			if a.contentType != problem.ContentType || json.Unmarshal(a.body, &p) != nil || a.status != c.status || p.Status != c.status {
				t.Fatalf("status %d, Content-Type %q, want a %d problem: %.300s", a.status, a.contentType, c.status, a.body)
			}
			if a.requestID == "" {
				t.Error("no X-Request-Id")
			}
			if p.Instance != c.instance {
				t.Errorf("instance %q, want %q", p.Instance, c.instance)
			}
		})
	}
}
