package redoc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/browsertest"
	"fanout/gateway/internal/config"

	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test: starting chromium,
// loading and rendering the page. It takes a few seconds; the margin is
// for a loaded machine.
const browserTimeout = 90 * time.Second

// TestDocsPage opens the gateway's /docs in headless Chromium: the page
// renders the public document with Redoc, showing every operation's
// summary, every parameter, every security scheme and response samples;
// it logs no console error; and it loads nothing but from the gateway
// (no CDN: it works offline).
func TestDocsPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	bctx, blog := browsertest.Start(t, ctx, 1280, 1024)
	_, addr := assemblytest.Serve(t, config.Default())
	origin := "http://" + addr

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
	errs, requests := blog.Snapshot()
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
	for _, u := range blog.Foreign(origin + "/") {
		t.Errorf("the page loads %s, not from the gateway: it would not work offline", u)
	}
	if !slices.Contains(requests, origin+"/openapi.json") {
		t.Errorf("the page did not load the public document; requests: %v", requests)
	}
}
