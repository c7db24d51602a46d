package stage

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"fanout/gateway/browsertest"
)

// browserTimeout bounds the whole browser test; it takes about 15 s.
const browserTimeout = 60 * time.Second

// latest is the page's own view of its newest frame, as its charts draw it.
const latest = `(() => { const f = window.stage.frames[window.stage.frames.length - 1];
	return f ? {mode: f.mode, p99: f.p99 == null ? -1 : f.p99, critical: f.limits.critical_p99, deadline: f.limits.deadline} : {mode: "", p99: -1}; })()`

type pageFrame struct {
	Mode                    string
	P99, Critical, Deadline float64
}

// TestPageShowsBlocking is the talk's first act, in the browser: at a rate
// above what blocking can serve (one lock around 85 ms of backend calls
// serves about 12 requests/s), switching the page from concurrent to
// blocking makes the p99 the page draws climb past a quarter of the
// deadline within seconds, and switching back brings it near the critical
// path again. The thresholds are far from both sides: blocking at 30/s
// queues without bound until the deadline (2 s) answers, and concurrent
// answers within a few milliseconds of the critical path (40 ms).
func TestPageShowsBlocking(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	bctx, blog := browsertest.Start(t, ctx, 1600, 1000)
	s, _, _ := watch(t, 30)

	wait := func(what string, within time.Duration, cond func(pageFrame) bool) pageFrame {
		t.Helper()
		end := time.Now().Add(within)
		var f pageFrame
		for {
			var err error
			if f, err = chromedp.Run(bctx, chromedp.Evaluate[pageFrame](latest)); err != nil {
				t.Fatalf("read the page's frames: %v", err)
			}
			if cond(f) {
				return f
			}
			if time.Now().After(end) {
				errs, _ := blog.Snapshot()
				t.Fatalf("the page showed no %s within %v; its last frame: %+v; browser errors: %v", what, within, f, errs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	start := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(s.URL()), chromedp.WaitVisible(chromedp.CSS("#mode-blocking"))); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	near := func(f pageFrame) bool { return f.P99 > 0 && f.P99 < 3*f.Critical }
	base := wait("concurrent p99 near the critical path", 15*time.Second, func(f pageFrame) bool { return f.Mode == "concurrent" && near(f) })
	t.Logf("concurrent: p99 %.0f ms, critical path %.0f ms (%v)", base.P99, base.Critical, time.Since(start).Round(time.Millisecond))

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#mode-blocking"))); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	hi := wait("blocking p99 above a quarter of the deadline", 15*time.Second, func(f pageFrame) bool {
		return f.Mode == "blocking" && f.P99 > f.Deadline/4
	})
	t.Logf("blocking: p99 %.0f ms after %v", hi.P99, time.Since(clicked).Round(time.Millisecond))

	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#mode-concurrent"))); err != nil {
		t.Fatal(err)
	}
	clicked = time.Now()
	lo := wait("concurrent p99 back near the critical path", 20*time.Second, func(f pageFrame) bool { return f.Mode == "concurrent" && near(f) })
	t.Logf("concurrent again: p99 %.0f ms after %v", lo.P99, time.Since(clicked).Round(time.Millisecond))

	// The page marked both switches, drew its charts and its caption
	// area, and loaded nothing from anywhere but the stage.
	labels, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`window.stage.markers.map(m => m.label)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(labels, "|") != "concurrent at 30/s|blocking|concurrent" {
		t.Errorf("markers %q, want the start and both switches", labels)
	}
	legend, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#l-latency")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"p99", "p50", "critical path", "sum", "deadline"} {
		if !strings.Contains(legend, want) {
			t.Errorf("the latency chart's legend %q lacks %q", legend, want)
		}
	}
	errs, _ := blog.Snapshot()
	for _, e := range errs {
		t.Errorf("browser: %s", e)
	}
	for _, u := range blog.Foreign(s.URL()) {
		t.Errorf("the page loads %s, not from the stage: it would not work offline", u)
	}

	// One key plays the next scene: the first, the event loop, whose
	// caption the page shows large.
	if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.ArrowRight)); err != nil {
		t.Fatal(err)
	}
	first := Scenes()[0]
	caption, err := chromedp.Run(bctx, chromedp.Poll[string](`(() => {
		const c = document.getElementById("caption").textContent;
		return document.getElementById("mode-label").textContent === "blocking" && c;
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("→ did not play the first scene: %v", err)
	}
	if caption != "1. "+first.Caption {
		t.Errorf("caption %q, want %q", caption, "1. "+first.Caption)
	}

	// The recording, saved as a file and opened from disk with the
	// stage still running, draws what was shown and asks nothing of it.
	resp, err := http.Get(s.URL() + "record")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "talk.html")
	if err := os.WriteFile(file, rec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, before := blog.Snapshot()
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	mode, err := chromedp.Run(bctx, chromedp.Poll[string](`(() => {
		const st = window.stage;
		return document.body.classList.contains("recording") && st && st.frames.length > 0 && st.markers.length === 4 &&
			document.getElementById("mode-label").textContent;
	})()`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("the recording did not draw its frames and markers: %v", err)
	}
	if mode != "blocking" {
		t.Errorf("the recording shows mode %q, want blocking, the last one shown", mode)
	}
	errs, after := blog.Snapshot()
	for _, e := range errs {
		t.Errorf("browser, recording: %s", e)
	}
	for _, u := range after[len(before):] {
		if u != "file://"+file {
			t.Errorf("the recording loads %s: it would not work offline", u)
		}
	}
}
