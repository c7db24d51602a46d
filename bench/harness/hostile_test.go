package harness

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/scenario"
)

// hostileRecorder is a fake gateway that records who asked what, and when.
type hostileRecorder struct {
	mu    sync.Mutex
	start time.Time
	seen  []hostileRequest
}

type hostileRequest struct {
	method, auth, ip string
	at               time.Duration // from start, when the headers came
	body             int
}

func (h *hostileRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Since(h.start)
	b, _ := io.ReadAll(req.Body)
	ip, _, _ := net.SplitHostPort(req.RemoteAddr)
	h.mu.Lock()
	h.seen = append(h.seen, hostileRequest{req.Method, req.Header.Get("Authorization"), ip, at, len(b)})
	h.mu.Unlock()
	if req.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
	}
}

func (h *hostileRecorder) requests() []hostileRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hostileRequest(nil), h.seen...)
}

// TestStartHostile: a scenario's hostile tenant starts with its phase, not
// before, sends its slow uploads and its requests with the second token
// (from an address of its own on Linux), and reports what it met once
// stopped.
func TestStartHostile(t *testing.T) {
	s, err := scenario.Decode(strings.NewReader(`
targets: [{path: /x}]
load: {rates: [10], duration: 5s}
events: [{at: 300ms, name: attack, rate: 10}]
hostile:
  from: attack
  uploads: {clients: 2, bytes_per_second: 100, body: '{"n":1}'}
  rate: 50
  targets: [{path: "/v2/projects/{id}", ids: 1-5}]
`), "h.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec := &hostileRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	r := &runner{s: s}
	rec.start = time.Now()
	stop := r.startHostile(context.Background(), load.Attack{Name: "t", BaseURL: srv.URL, Timeout: time.Second}, 5*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var posts, gets int
		for _, q := range rec.requests() {
			if q.method == http.MethodPost && q.body == 7 {
				posts++
			} else if q.method == http.MethodGet {
				gets++
			}
		}
		if posts >= 2 && gets >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d whole uploads, %d requests; want 2 and 5", posts, gets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := stop()
	wantIP := "127.0.0.1"
	if runtime.GOOS == "linux" {
		wantIP = HostileAddr
	}
	for _, q := range rec.requests() {
		if q.at < 300*time.Millisecond {
			t.Errorf("%s at %v: before its phase, at 300ms", q.method, q.at)
		}
		if q.auth != launch.HostileAuthorization || q.ip != wantIP {
			t.Errorf("%s with %q from %s, want the hostile token from %s", q.method, q.auth, q.ip, wantIP)
		}
	}
	if got == nil || got.From != "attack" || got.Uploads == nil || got.Uploads.Codes["201"] < 2 ||
		got.Requests == nil || got.Requests.Codes["200"] < 5 {
		t.Errorf("report %+v (uploads %+v, requests %+v)", got, got.Uploads, got.Requests)
	}
	if none := (&runner{s: &scenario.Scenario{}}).startHostile(context.Background(), load.Attack{}, time.Second)(); none != nil {
		t.Errorf("a scenario without a hostile tenant reports %+v", none)
	}
}
