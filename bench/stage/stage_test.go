package stage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"fanout/bench/launch"
)

// startStage starts a stage with o on free ports and stops it when the test
// ends.
func startStage(t *testing.T, o Options) *Stage {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts the mock backends and a gateway")
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start the stage: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the stage: %v", err)
		}
	})
	return s
}

// watch starts a stage at rate with the default options and subscribes to
// its events.
func watch(t *testing.T, rate float64) (*Stage, Options, <-chan event) {
	t.Helper()
	o := DefaultOptions()
	o.Rate = rate
	s := startStage(t, o)
	return s, o, subscribe(t, s)
}

// event is one Server-Sent Event of the stage.
type event struct {
	name string
	data []byte
}

// subscribe opens the stage's event stream and delivers its events until
// the test ends.
func subscribe(t *testing.T, s *Stage) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /events: %s, Content-Type %q", resp.Status, ct)
	}
	ch := make(chan event, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = []byte(strings.TrimPrefix(line, "data: "))
			case line == "" && ev.name != "":
				ch <- ev
				ev = event{}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return ch
}

// next returns the next event named name within d, failing the test if
// none comes.
func next(t *testing.T, ch <-chan event, name string, d time.Duration) event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the event stream ended while waiting for a %s", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s event within %v", name, d)
		}
	}
}

// frameUntil reads frames until cond holds for one, within d.
func frameUntil(t *testing.T, ch <-chan event, d time.Duration, what string, cond func(Frame) bool) Frame {
	t.Helper()
	end := time.Now().Add(d)
	var last Frame
	for time.Now().Before(end) {
		ev := next(t, ch, "frame", time.Until(end)+time.Second)
		if err := json.Unmarshal(ev.data, &last); err != nil {
			t.Fatalf("frame %s: %v", ev.data, err)
		}
		if cond(last) {
			return last
		}
	}
	t.Fatalf("no frame with %s within %v; the last: %+v", what, d, last)
	return last
}

// TestEventStream: the page's stream delivers a frame about every tick,
// with the load's answers, latencies no better than the critical path,
// the gateway's and every backend's requests in flight, and the waterfall
// of a request with the results page's four calls.
func TestEventStream(t *testing.T) {
	_, o, ch := watch(t, 40)
	f := frameUntil(t, ch, 15*time.Second, "answers, latencies and a waterfall", func(f Frame) bool {
		return f.Complete > 0 && f.P50 != nil && f.Waterfall != nil && f.GatewayInFlight != nil && len(f.Backends) == 4
	})
	if f.Mode != "concurrent" || f.Offered != 40 {
		t.Errorf("frame of mode %q at %v/s, want concurrent at 40/s", f.Mode, f.Offered)
	}
	// Nothing beats the critical path: 40 ms with the default models.
	if f.Limits.CriticalP50 != 40 || f.Limits.SumP50 != 85 || f.Limits.Deadline != 2000 {
		t.Errorf("limits %+v, want critical path 40, sum 85, deadline 2000 ms", f.Limits)
	}
	if *f.P50 < 0.95*f.Limits.CriticalP50 || *f.P99 < *f.P50 {
		t.Errorf("p50 %v ms, p99 %v ms: p50 under the critical path (%v ms), or p99 under p50", *f.P50, *f.P99, f.Limits.CriticalP50)
	}
	var names []string
	for _, c := range f.Waterfall.Calls {
		names = append(names, c.Name)
	}
	if len(names) != 4 || f.Waterfall.Total < f.Limits.CriticalP50*0.95 {
		t.Errorf("waterfall calls %v total %v ms, want the four calls of the results page, no faster than the critical path", names, f.Waterfall.Total)
	}
	// Frames come about every tick: ten of them span about nine ticks.
	// The slack is wide, for a busy machine; the order is strict.
	first := f
	var prev = f
	for range 10 {
		var g Frame
		if err := json.Unmarshal(next(t, ch, "frame", 5*time.Second).data, &g); err != nil {
			t.Fatal(err)
		}
		if g.T <= prev.T {
			t.Fatalf("frame at %vs after one at %vs", g.T, prev.T)
		}
		prev = g
	}
	if per := (prev.T - first.T) / 10; per < 0.5*o.Tick.Seconds() || per > 3*o.Tick.Seconds() {
		t.Errorf("a frame every %.3fs, want about every %v", per, o.Tick)
	}
}

// post sends a control and returns its status and body.
func post(t *testing.T, s *Stage, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL()+strings.TrimPrefix(path, "/"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func state(t *testing.T, s *Stage) State {
	t.Helper()
	var st State
	if err := launch.GetJSON(context.Background(), s.URL()+"api/state?history=0", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestControls: every control of the page over HTTP. A mistake is a 400
// that says what is wrong and changes nothing; a good control changes the
// stage, and a marker says so on the stream.
func TestControls(t *testing.T) {
	s, o, ch := watch(t, 10)
	stable := s.GatewayAddr()

	for _, c := range []struct{ path, body, why string }{
		{"/api/gateway", `{"mode":"async","pool_size":16}`, "unknown mode"},
		{"/api/gateway", `{"mode":"pool","pool_size":0}`, "pool of no worker"},
		{"/api/gateway", `{"mode":"pool","pool_size":100000}`, "pool past MaxPoolSize"},
		{"/api/gateway", `{"mode":"blocking","pool_size":16,"turbo":true}`, "unknown field"},
		{"/api/gateway", `{"mode":`, "broken JSON"},
		{"/api/gateway", `{"mode":"blocking","pool_size":16} {}`, "two values"},
		{"/api/rate", `{"rate":-1}`, "negative rate"},
		{"/api/rate", `{"rate":1e9}`, "rate past MaxRate"},
		{"/api/rate", `{}`, "no rate"},
		{"/api/backend", `{"service":"billing","latency":"fixed:1ms"}`, "unknown backend"},
		{"/api/backend", `{"service":"results","latency":"slow"}`, "latency that does not parse"},
		{"/api/backend", `{"service":"results","latency":"fixed:1ms","error":2}`, "error share over 1"},
		{"/api/scene", `{"scene":99}`, "no such scene"},
		{"/api/scene", `{}`, "no scene"},
	} {
		code, body := post(t, s, c.path, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("%s (%s): %d %s, want 400 with an error", c.path, c.why, code, body)
		}
	}
	if st := state(t, s); st.Gateway != o.Gateway || st.Rate != 10 || st.Backends["results"].Latency != "fixed:40ms" {
		t.Fatalf("bad controls changed the stage: %+v", st)
	}
	resp, err := http.Get(s.URL() + "api/rate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/rate: %s, want 405", resp.Status)
	}

	// The mode: a new gateway behind the same address, and a marker.
	g := o.Gateway
	g.Mode, g.Breakers = "blocking", true
	b, _ := json.Marshal(g)
	if code, body := post(t, s, "/api/gateway", string(b)); code != http.StatusNoContent {
		t.Fatalf("set blocking: %d %s", code, body)
	}
	var m Marker
	if err := json.Unmarshal(next(t, ch, "marker", 5*time.Second).data, &m); err != nil || m.Label != "blocking +breakers" {
		t.Errorf("marker %+v (%v), want blocking +breakers", m, err)
	}
	if st := state(t, s); st.Gateway != g || st.GatewayAddr != stable {
		t.Errorf("state after the switch: %+v at %s, want %+v at %s", st.Gateway, st.GatewayAddr, g, stable)
	}
	frameUntil(t, ch, 5*time.Second, "the new mode", func(f Frame) bool { return f.Mode == "blocking +breakers" })
	// The stable address answers from the new gateway.
	req, _ := http.NewRequest(http.MethodGet, "http://"+stable+"/v2/experiments/3/results", nil)
	req.Header.Set("Authorization", launch.Authorization)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET through the stable address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET through the stable address: %s", resp.Status)
	}

	// A backend's model: the mock gets it, the limits follow.
	if code, body := post(t, s, "/api/backend", `{"service":"results","latency":"fixed:120ms","error":0.1,"reset":0.05,"stray":0.02}`); code != http.StatusNoContent {
		t.Fatalf("set results: %d %s", code, body)
	}
	var cfg struct {
		Latency struct{ Kind, Value string }
		Faults  struct{ Error, Reset, Stray float64 }
	}
	if err := launch.GetJSON(context.Background(), "http://"+s.mocks.Addrs["results"]+"/_admin/config", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Latency.Value != "120ms" || cfg.Faults.Error != 0.1 || cfg.Faults.Reset != 0.05 || cfg.Faults.Stray != 0.02 {
		t.Errorf("the results mock has %+v, want fixed 120ms with 10%% errors, 5%% resets and 2%% stray answers", cfg)
	}
	if st := state(t, s); st.Limits.CriticalP50 != 120 || st.Limits.SumP50 != 165 || st.Backends["results"].Error != 0.1 {
		t.Errorf("after results 120 ms: limits %+v, backend %+v; want critical path 120, sum 165", st.Limits, st.Backends["results"])
	}

	// The rate.
	if code, body := post(t, s, "/api/rate", `{"rate":15}`); code != http.StatusNoContent {
		t.Fatalf("set rate: %d %s", code, body)
	}
	frameUntil(t, ch, 5*time.Second, "the new rate", func(f Frame) bool { return f.Offered == 15 })

	// A scene: its gateway and rate, the default models back, its caption.
	if code, body := post(t, s, "/api/scene", `{"scene":3}`); code != http.StatusNoContent {
		t.Fatalf("play scene 4: %d %s", code, body)
	}
	sc := Scenes()[3]
	st := state(t, s)
	if st.Scene != 3 || st.Gateway != sc.Gateway || st.Rate != sc.Rate || st.Backends["results"].Latency != "fixed:40ms" || st.Limits.CriticalP50 != 40 {
		t.Errorf("after scene 4: scene %d gateway %+v rate %v results %+v limits %+v; want %+v at %v with the default models",
			st.Scene, st.Gateway, st.Rate, st.Backends["results"], st.Limits, sc.Gateway, sc.Rate)
	}
	for {
		if err := json.Unmarshal(next(t, ch, "marker", 5*time.Second).data, &m); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(m.Label, "4. ") {
			break
		}
	}
	if !strings.Contains(m.Label, sc.Caption) {
		t.Errorf("scene marker %q lacks the caption %q", m.Label, sc.Caption)
	}
}

// TestScenesFollowTheDemo: the scenes are the demo's acts in order, each
// with a caption, and their rates tell the acts' stories: the event loop
// past blocking's capacity, the results page under it, the load act far
// past it, and a small pool past its own.
func TestScenesFollowTheDemo(t *testing.T) {
	sc := Scenes()
	var acts []string
	for _, s := range sc {
		acts = append(acts, s.Act)
		if len(s.Caption) < 20 || strings.Contains(s.Caption, "\n") {
			t.Errorf("scene %s: caption %q is not one line that names the lesson", s.Act, s.Caption)
		}
		if err := s.Gateway.Validate(); err != nil {
			t.Errorf("scene %s: %v", s.Act, err)
		}
	}
	if strings.Join(acts, " ") != "eventloop results load pool" {
		t.Fatalf("scenes %v, want the demo's acts in order", acts)
	}
	blocking := 1000 / 85.0 // requests/s: one lock around 85 ms of backend calls
	pool := float64(sc[3].Gateway.PoolSize) * blocking
	if sc[0].Gateway.Mode != "blocking" || sc[0].Rate <= blocking {
		t.Errorf("eventloop: %s at %v/s, want blocking past %v/s", sc[0].Gateway.Mode, sc[0].Rate, blocking)
	}
	if sc[1].Rate >= blocking {
		t.Errorf("results at %v/s, want under blocking's %v/s, so nothing queues", sc[1].Rate, blocking)
	}
	if sc[2].Gateway.Mode != "concurrent" || sc[2].Rate < 10*blocking {
		t.Errorf("load: %s at %v/s, want concurrent far past blocking", sc[2].Gateway.Mode, sc[2].Rate)
	}
	if sc[3].Gateway.Mode != "pool" || sc[3].Rate <= pool {
		t.Errorf("pool: %s at %v/s, want a pool past its capacity %v/s", sc[3].Gateway.Mode, sc[3].Rate, pool)
	}
}

// TestRecording: /record is the page with what was shown inlined, a file
// that loads nothing from anywhere.
func TestRecording(t *testing.T) {
	s, _, ch := watch(t, 10)
	frameUntil(t, ch, 10*time.Second, "an answer", func(f Frame) bool { return f.Complete > 0 })
	resp, err := http.Get(s.URL() + "record")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=\"fanout-stage-") {
		t.Errorf("Content-Disposition %q, want a download", cd)
	}
	h := string(body)
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:|//)|<link|@import|url\(|<script[^>]+src`).FindString(h); m != "" {
		t.Errorf("the recording loads an external asset: %q", m)
	}
	i := strings.Index(h, "window.STAGE_RECORDING = ")
	if i < 0 {
		t.Fatal("the recording holds no data")
	}
	var st State
	dec := json.NewDecoder(strings.NewReader(h[i+len("window.STAGE_RECORDING = "):]))
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("the recording's data: %v", err)
	}
	if len(st.Frames) == 0 || len(st.Markers) == 0 || st.Gateway.Mode != "concurrent" {
		t.Errorf("the recording has %d frames, %d markers, mode %q", len(st.Frames), len(st.Markers), st.Gateway.Mode)
	}
	if !bytes.Contains(body, []byte("function timeChart")) || !bytes.Contains(body, []byte("--bg:")) {
		t.Error("the recording lacks the page's script or style")
	}
	// The live page is the same page without data.
	resp, err = http.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	live, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(live, []byte("window.STAGE_RECORDING = null;")) {
		t.Error("the live page carries recorded data")
	}
}

// TestCloseStopsEverything: Close (Ctrl-C for bench stage) stops the
// gateway, the mocks, the stable address and the page.
func TestCloseStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the mock backends and a gateway")
	}
	o := DefaultOptions()
	o.Rate = 20
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	g := o.Gateway
	g.Mode = "staged"
	if err := s.SetGateway(g); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	gw := s.gw
	s.mu.Unlock()
	url, stable := s.URL(), s.GatewayAddr()
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	for name, p := range map[string]*launch.Proc{"gateway": gw, "mocks": s.mocks} {
		select {
		case <-p.Done():
		default:
			t.Errorf("the %s still runs after Close", name)
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range []string{url, "http://" + stable + "/"} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close", u)
		}
	}
}
