package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/bench/launch"
	"fanout/mockbackends/mock"
)

// fieldPaths lists every field of a JSON document by its path
// ("experiment.variations[].key"), sorted and without repeats.
func fieldPaths(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, body)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				out = append(out, prefix+k)
				walk(prefix+k+".", x)
			}
		case []any:
			for _, x := range v {
				walk(strings.TrimSuffix(prefix, ".")+"[].", x)
			}
		}
	}
	walk("", v)
	slices.Sort(out)
	return slices.Compact(out)
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestFloorAnswersLikeTheGateway starts the floor and the gateway (every
// policy and authentication off) on the same mock backends and asks both
// for the same results pages: the floor's must have the gateway's fields,
// with the same values, so that its CPU per page is that of the same work.
func TestFloorAnswersLikeTheGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the floor")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := mock.Start(mock.Options{NoLatency: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// StartGateway and StartFloor read the mocks' addresses only.
	mocks := &launch.Proc{Addrs: c.Addrs()}

	floorBin, err := launch.Build(ctx, launch.FloorPackage)
	if err != nil {
		t.Fatal(err)
	}
	gatewayBin, err := launch.Build(ctx, launch.GatewayPackage)
	if err != nil {
		t.Fatal(err)
	}
	// The floor as the bench runs it (raw system calls), and on net.Conn.
	var floorURL, netFloorURL string
	for _, f := range []struct {
		url   *string
		flags []string
	}{{&floorURL, nil}, {&netFloorURL, []string{"-sockets", "net"}}} {
		fl, err := launch.StartFloor(ctx, floorBin, mocks, io.Discard, f.flags...)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := fl.Stop(launch.DefaultGrace); err != nil {
				t.Errorf("the floor %v did not stop cleanly: %v", f.flags, err)
			}
		}()
		*f.url = "http://" + fl.Addr("floor")
	}
	gw, err := launch.StartGateway(ctx, gatewayBin, launch.Gateway{Args: []string{"-auth", "off", "-log-level", "warn"}}, mocks, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Stop(launch.DefaultGrace)

	gatewayURL := "http://" + gw.Addr("gateway")
	for _, id := range []string{"7", "42"} {
		path := "/v2/experiments/" + id + "/results"
		gs, gb := get(t, gatewayURL+path)
		fs, fb := get(t, floorURL+path)
		if gs != http.StatusOK || fs != http.StatusOK {
			t.Fatalf("%s: gateway %d, floor %d, want 200 from both; floor said %.200s", path, gs, fs, fb)
		}
		if ns, nb := get(t, netFloorURL+path); ns != fs || !bytes.Equal(nb, fb) {
			t.Errorf("%s: the floor on net.Conn answered %d %.200s, on raw calls %d %.200s", path, ns, nb, fs, fb)
		}
		gf, ff := fieldPaths(t, gb), fieldPaths(t, fb)
		if !slices.Equal(gf, ff) {
			t.Errorf("%s: fields differ\ngateway: %v\nfloor:   %v", path, gf, ff)
		}
		var gv, fv any
		_ = json.Unmarshal(gb, &gv)
		_ = json.Unmarshal(fb, &fv)
		if g, f := mustJSON(t, gv), mustJSON(t, fv); g != f {
			t.Errorf("%s: values differ\ngateway: %s\nfloor:   %s", path, g, f)
		}
		if len(gf) < 20 {
			t.Errorf("%s: only %d fields in the gateway's page: %v", path, len(gf), gf)
		}
	}
	// An unknown experiment is 404 from both.
	if gs, _ := get(t, gatewayURL+"/v2/experiments/999999/results"); gs != http.StatusNotFound {
		t.Errorf("gateway: unknown experiment %d, want 404", gs)
	}
	if fs, _ := get(t, floorURL+"/v2/experiments/999999/results"); fs != http.StatusNotFound {
		t.Errorf("floor: unknown experiment %d, want 404", fs)
	}
	// The allocation counter counts.
	_, m0 := get(t, floorURL+launch.FloorMallocsPath)
	get(t, floorURL+"/v2/experiments/7/results")
	_, m1 := get(t, floorURL+launch.FloorMallocsPath)
	if a, b := mustUint(t, m0), mustUint(t, m1); b <= a {
		t.Errorf("mallocs %d then %d across a page, want a rise", a, b)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustUint(t *testing.T, b []byte) uint64 {
	t.Helper()
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatalf("mallocs %q: %v", b, err)
	}
	return n
}

// TestStopsWithAConnectionOpen: a load generator's connection that never
// sent a request does not hold the floor's stop: it ends at once with
// status 0, where fasthttp's Shutdown waited for such a connection until
// its deadline and failed.
func TestStopsWithAConnectionOpen(t *testing.T) {
	c, err := mock.Start(mock.Options{NoLatency: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args := []string{"-deadline", "500ms"}
	for name, addr := range c.Addrs() {
		args = append(args, "-backend", name+"="+addr)
	}
	out := &lockedBuffer{}
	stop := make(chan struct{})
	status := make(chan int, 1)
	go func() { status <- run(args, out, io.Discard, stop) }()
	var addr string
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for addr == "" {
		select {
		case s := <-status:
			t.Fatalf("the floor ended with status %d before serving", s)
		case <-poll.C:
			if _, a, ok := strings.Cut(out.String(), "LISTEN floor="); ok {
				addr = strings.TrimSpace(a)
			}
		}
	}
	if code, _ := get(t, "http://"+addr+"/v2/experiments/1/results"); code != http.StatusOK {
		t.Fatalf("status %d from the floor", code)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	close(stop)
	if s := <-status; s != 0 {
		t.Errorf("the floor stopped with status %d, a connection open that sent nothing: want 0", s)
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBadSockets: a -sockets that is neither raw nor net is a usage error
// (status 2), said before anything starts.
func TestBadSockets(t *testing.T) {
	var stderr strings.Builder
	args := []string{"-sockets", "epoll"}
	for _, svc := range backendNames {
		args = append(args, "-backend", svc+"=127.0.0.1:1")
	}
	if code := run(args, io.Discard, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), "want raw or net") {
		t.Fatalf("status %d, stderr %q", code, stderr.String())
	}
}
