package mock

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestLogsTraceparent: at debug level, a service logs the traceparent and
// request id of a request that carries one, so that a gateway's trace can
// be followed into it; without one, it logs no such line.
func TestLogsTraceparent(t *testing.T) {
	var logs lockedBuffer
	c := start(t, Options{NoLatency: true, Seed: 1, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, err := http.NewRequest(http.MethodGet, url(c, "experiments", "/experiments/1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("traceparent", tp)
	req.Header.Set("X-Request-Id", "req-7")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	do(t, http.MethodGet, url(c, "experiments", "/experiments/2"), "")
	var traced []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "traceparent=") {
			traced = append(traced, line)
		}
	}
	if len(traced) != 1 || !strings.Contains(traced[0], "traceparent="+tp) || !strings.Contains(traced[0], "request_id=req-7") ||
		!strings.Contains(traced[0], "path=/experiments/1") {
		t.Errorf("lines with a traceparent: %q, want one for /experiments/1 with its traceparent and request id", traced)
	}
}

// lockedBuffer is a bytes.Buffer that the services' goroutines write to
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
