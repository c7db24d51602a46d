package assembly_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/config"
)

// accessLine is an access line as the JSON log writes it.
type accessLine struct {
	Msg         string   `json:"msg"`
	Level       string   `json:"level"`
	RequestID   string   `json:"request_id"`
	TraceID     string   `json:"trace_id"`
	Operation   string   `json:"operation"`
	Method      string   `json:"method"`
	Status      int      `json:"status"`
	DurationMS  *float64 `json:"duration_ms"`
	Bytes       int      `json:"bytes"`
	Token       string   `json:"token"`
	Problem     string   `json:"problem"`
	FailedCalls []string `json:"failed_calls"`
}

// loggedGateway serves a gateway whose JSON log goes to the returned
// buffer, with successes sampled at sample, and tracing off.
func loggedGateway(t *testing.T, sample config.Ratio) (string, *backendtest.Fake, *backendtest.SyncBuffer) {
	t.Helper()
	fake, addr := backendtest.StartTCP(t)
	cfg := config.Default()
	cfg.Backends = config.Backends(backendtest.Addrs(addr))
	cfg.AccessLogSample = sample
	var logs backendtest.SyncBuffer
	_, public := assemblytest.ServeLogged(t, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	return public, fake, &logs
}

// accessLines parses the access lines of a JSON log.
func accessLines(t *testing.T, logs string) []accessLine {
	t.Helper()
	var lines []accessLine
	for line := range strings.Lines(logs) {
		var l accessLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("a log line that is not JSON: %q: %v", line, err)
		}
		if l.Msg == accesslog.Message {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestAccessLine: with every success sampled, a results page gets one
// JSON access line with its request id (the one the client got), the
// trace id of the client's traceparent (tracing off), the operation,
// status, duration, bytes and token name; a page missing an optional part
// names the failed call, and a 404 names its problem.
func TestAccessLine(t *testing.T) {
	addr, fake, logs := loggedGateway(t, 1)
	status, h := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization,
		"traceparent", "00-"+clientTrace+"-"+clientSpan+"-01", "X-Request-Id", "req-one")
	if status != 200 || string(h.Peek("X-Request-Id")) != "req-one" {
		t.Fatalf("status %d, request id %q", status, h.Peek("X-Request-Id"))
	}
	fake.Set("layers", backendtest.Behaviour{Status: 500})
	if status, h := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 || len(h.Peek("Fanout-Partial")) == 0 {
		t.Fatalf("partial page: status %d, Fanout-Partial %q", status, h.Peek("Fanout-Partial"))
	}
	if status, _ := get(t, addr, "/v2/experiments/9999/results", "Authorization", assemblytest.Authorization); status != 404 {
		t.Fatalf("unknown experiment: status %d", status)
	}
	lines := accessLines(t, logs.String())
	if len(lines) != 3 {
		t.Fatalf("%d access lines for 3 requests:\n%s", len(lines), logs.String())
	}
	page := lines[0]
	if page.RequestID != "req-one" || page.TraceID != clientTrace || page.Operation != "getExperimentResults" ||
		page.Method != "GET" || page.Status != 200 || page.DurationMS == nil || *page.DurationMS <= 0 ||
		page.Bytes < 100 || page.Token != assemblytest.TokenName || page.Level != "INFO" || len(page.FailedCalls) != 0 {
		t.Errorf("page's access line: %+v", page)
	}
	if p := lines[1]; p.Status != 200 || !slices.Equal(p.FailedCalls, []string{"layer"}) || p.TraceID != "" {
		t.Errorf("partial page's access line: %+v, want failed_calls [layer] and no trace id", p)
	}
	if nf := lines[2]; nf.Status != 404 || nf.Problem != "not-found" || !slices.Equal(nf.FailedCalls, []string{"experiment"}) {
		t.Errorf("404's access line: %+v", nf)
	}
	if strings.Contains(logs.String(), assemblytest.Token) {
		t.Errorf("the log holds the token's secret")
	}
}

// TestAccessLogSampling: at a sample of 0, successes get no access line
// and every failure does: a 401, a 404 and a 502, and a 404 for a path
// that is no operation's.
func TestAccessLogSampling(t *testing.T) {
	addr, fake, logs := loggedGateway(t, 0)
	for range 20 {
		if status, _ := get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	get(t, addr, "/v2/experiments/42/results")
	get(t, addr, "/v2/experiments/9999/results", "Authorization", assemblytest.Authorization)
	fake.Set("results", backendtest.Behaviour{Status: 500})
	get(t, addr, "/v2/experiments/42/results", "Authorization", assemblytest.Authorization)
	get(t, addr, "/no/such/path")
	var statuses []int
	var problems []string
	for _, l := range accessLines(t, logs.String()) {
		statuses = append(statuses, l.Status)
		problems = append(problems, l.Problem)
	}
	if !slices.Equal(statuses, []int{401, 404, 502, 404}) {
		t.Errorf("access lines of statuses %v, want the failures only, [401 404 502 404]", statuses)
	}
	if len(problems) == 4 && problems[3] != "not-found" {
		t.Errorf("the unrouted request's line has problem %q", problems[3])
	}
}
