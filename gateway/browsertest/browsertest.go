// Package browsertest drives headless Chromium for the tests of Fanout's
// pages (the gateway's /docs, the bench's stage): it finds the browser,
// starts it for one test with the flags this project's machines need, and
// gathers what the page reports, so that a page's test asserts what the
// page shows and that it loads nothing from elsewhere.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser to drive: $CHROME, else the first of the
// usual names on PATH. None is a failure, not a skip, so that make test
// cannot pass without running the pages; -short skips the test.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser tests do not run with -short")
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
	t.Fatalf("no Chromium to render the page in: none of %s is on PATH and CHROME is not set. "+
		"Install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROME to a Chrome or Chromium binary; "+
		"go test -short skips this test", strings.Join(names, ", "))
	return ""
}

// Start starts headless Chromium (Chromium's choice) with a window of
// width × height and a fresh profile, for the life of ctx and of t, and
// returns the browser's context and the log of what its pages report.
func Start(t testing.TB, ctx context.Context, width, height int) (context.Context, *Log) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
		// Chromium's sandbox needs user namespaces, which containers
		// and CI runners as root often lack; the pages are our own.
		chromedp.NoSandbox,
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	l := &Log{}
	if err := chromedp.Listen(bctx, l.listen); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx, l
}

// Log gathers what a page reports: console errors, uncaught exceptions,
// browser log errors (failed loads, refused by the Content-Security-Policy)
// and the URL of every request it makes. It is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (b *Log) listen(ev any) {
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

// Snapshot returns the errors and the requests so far.
func (b *Log) Snapshot() (errors, requests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.errors), slices.Clone(b.requests)
}

// Foreign returns the requests of the log that do not go to origin (a
// scheme and host, with a trailing slash), data: and blob: URLs aside: a
// page that makes one would not work offline.
func (b *Log) Foreign(origin string) []string {
	_, requests := b.Snapshot()
	var out []string
	for _, u := range requests {
		if !strings.HasPrefix(u, origin) && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			out = append(out, u)
		}
	}
	return out
}
