package redoc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test: starting chromium,
// loading and rendering the page. It takes a few seconds; the margin is
// for a loaded machine.
const browserTimeout = 90 * time.Second

// chromium returns the browser to drive: $CHROME, else the first of the
// usual names on PATH. None is a failure, not a skip, so that make test
// cannot pass without running the page; -short skips it.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser test does not run with -short")
	}
	if p := os.Getenv("CHROME"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("CHROME=%s: %v", p, err)
		}
		return p
	}
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("no Chromium to render /docs in: none of %s is on PATH and CHROME is not set. "+
		"Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROME to a Chrome or Chromium binary; "+
		"go test -short skips this test", strings.Join(names, ", "))
	return ""
}

// browserLog gathers what the page reports: console errors, uncaught
// exceptions, browser log errors (failed loads, refused by the
// Content-Security-Policy) and the URL of every request it makes.
type browserLog struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == "error" || ev.Type == "assert" {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.errors = append(b.errors, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.errors = append(b.errors, "exception: "+msg)
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			b.errors = append(b.errors, fmt.Sprintf("log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	}
}

func (b *browserLog) snapshot() (errors, requests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors), slices.Clone(b.requests)
}

// TestDocsPage opens the gateway's /docs in headless Chromium: the page
// renders the public document with Redoc, showing every operation's
// summary, every parameter, every security scheme and response samples;
// it logs no console error; and it loads nothing but from the gateway
// (no CDN: it works offline).
func TestDocsPage(t *testing.T) {
	chrome := chromium(t)
	_, addr := assemblytest.Serve(t, config.Default())
	origin := "http://" + addr

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
		// Chromium's sandbox needs user namespaces, which containers
		// and CI runners as root often lack; the page is our own.
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1024),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	var blog browserLog
	if err := chromedp.Listen(bctx, blog.listen); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}

	// The document says what the page must show.
	s, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Summary    string `json:"summary"`
			Parameters []struct {
				Name string `json:"name"`
				Ref  string `json:"$ref"`
			} `json:"parameters"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name string `json:"name"`
			} `json:"parameters"`
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(s.PublicJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	var summaries, params []string
	for _, item := range doc.Paths {
		for _, op := range item {
			if op.Summary == "" {
				continue
			}
			summaries = append(summaries, op.Summary)
			for _, p := range op.Parameters {
				name := p.Name
				if p.Ref != "" {
					name = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")].Name
				}
				params = append(params, name)
			}
		}
	}
	if len(summaries) == 0 {
		t.Fatal("the document has no operation summary: this test proves nothing")
	}

	// Redoc renders once it has fetched and parsed the document: wait
	// for every summary to be on the page, then read what it shows.
	want, _ := json.Marshal(summaries)
	start := time.Now()
	err = chromedp.Do(bctx,
		chromedp.Navigate(origin+"/docs"),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const t = document.body ? document.body.innerText : ""; return %s.every(s => t.includes(s)); })()`, want),
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(browserTimeout)),
	)
	var text string
	if err == nil {
		text, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	}
	errs, requests := blog.snapshot()
	if err != nil {
		t.Fatalf("the page did not render every operation's summary (%v): %v\nbrowser errors: %v", time.Since(start).Round(time.Millisecond), err, errs)
	}
	t.Logf("rendered in %v, %d requests", time.Since(start).Round(time.Millisecond), len(requests))

	for _, p := range params {
		if !strings.Contains(text, p) {
			t.Errorf("parameter %q is not on the page", p)
		}
	}
	for name := range doc.Components.SecuritySchemes {
		if !strings.Contains(text, name) {
			t.Errorf("security scheme %q is not on the page", name)
		}
	}
	if n := strings.Count(text, "Response samples"); n < len(summaries) {
		t.Errorf("%d response samples for %d operations", n, len(summaries))
	}
	for _, e := range errs {
		t.Errorf("browser: %s", e)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the page loads %s, not from the gateway: it would not work offline", u)
		}
	}
	if !slices.Contains(requests, origin+"/openapi.json") {
		t.Errorf("the page did not load the public document; requests: %v", requests)
	}
}
