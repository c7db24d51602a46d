package server_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/poll"
	"fanout/mockbackends/mock"
)

// metric returns the value of the series of /metrics whose line starts
// with prefix (name and labels), 0 if absent.
func metric(t *testing.T, g *gateway, prefix string) float64 {
	t.Helper()
	for line := range strings.Lines(string(g.admin(t, "/metrics").body)) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

var hedgeTiming = regexp.MustCompile(`results;dur=[0-9.]+;start=[0-9.]+;desc="hedge"`)

// TestHedgedResults checks the shipped document's hedge on the results
// call: once the call's p95 is learned, a results call caught in a spike
// gets a duplicate that answers first, Server-Timing says so, /metrics
// counts the duplicates within the budget, and the backend sees exactly
// the extra calls. With -hedge-budget 0, nothing is duplicated.
func TestHedgedResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noHedge bool
	}{{"hedged", false}, {"budget 0", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := startMocks(t, mock.Options{Seed: 7, Config: latencies(t, map[string]string{
				"experiments": "none", "layers": "none", "projects": "none",
				"results": "fixed:1ms,spike=0.03@150ms",
			})})
			g := startGateway(t, gatewayOptions{backends: c.Addrs(), noHedge: tc.noHedge})
			const requests = fanout.MinSamples + 300
			marked := 0
			for range requests {
				r := g.get(t, "/v2/experiments/42/results")
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				if hedgeTiming.MatchString(r.header.Get("Server-Timing")) {
					marked++
				}
			}
			labels := `{operation="getExperimentResults",call="results"}`
			sent, won := metric(t, g, "fanout_hedges_sent_total"+labels), metric(t, g, "fanout_hedges_won_total"+labels)
			poll.Until(t, 10*time.Second, "the results calls ended", func() bool { return c.Stats("results").InFlight == 0 })
			// A duplicate cut before it reached the backend is not seen.
			if got := c.Stats("results").Requests; got < requests || got > int64(requests)+int64(sent) {
				t.Errorf("results backend saw %d calls, want %d requests + at most %v duplicates", got, requests, sent)
			}
			if tc.noHedge {
				if sent != 0 || marked != 0 {
					t.Errorf("budget 0: %v duplicates sent, %d pages marked hedge", sent, marked)
				}
				return
			}
			if sent == 0 || won == 0 || float64(marked) != won {
				t.Errorf("%v duplicates sent, %v won, %d pages marked hedge: want some, and as many marked as won", sent, won, marked)
			}
			if limit := 0.05*requests + fanout.HedgeBurst; sent > limit {
				t.Errorf("%v duplicates for %d calls, over the 5%% budget", sent, requests)
			}
		})
	}
}

// TestCoalescedExperiment checks the shipped document's coalescing of the
// results page's experiment call: concurrent pages of one experiment share
// experiment calls, /metrics counts them, and every page is the same bytes.
// With -coalesce off, every page makes its own call.
func TestCoalescedExperiment(t *testing.T) {
	for _, off := range []bool{false, true} {
		c := startMocks(t, mock.Options{Seed: 7, Config: latencies(t, map[string]string{
			"experiments": "fixed:50ms", "layers": "none", "projects": "none", "results": "none",
		})})
		g := startGateway(t, gatewayOptions{backends: c.Addrs(), noCoalesce: off})
		const pages = 20
		bodies := make([][]byte, pages)
		var wg sync.WaitGroup
		for k := range pages {
			wg.Go(func() {
				r := g.get(t, "/v2/experiments/42/results")
				if r.status != 200 {
					t.Errorf("status %d: %s", r.status, r.body)
				}
				bodies[k] = r.body
			})
		}
		wg.Wait()
		for k := range bodies {
			if !bytes.Equal(bodies[k], bodies[0]) {
				t.Fatalf("page %d differs:\n%s\n%s", k, bodies[k], bodies[0])
			}
		}
		calls := c.Stats("experiments").Requests
		shared := metric(t, g, `fanout_coalesced_calls_total{operation="getExperimentResults",call="experiment"}`)
		if off {
			if calls != pages || shared != 0 {
				t.Errorf("coalesce off: experiments backend saw %d calls for %d pages, %v shared", calls, pages, shared)
			}
			continue
		}
		if calls >= pages/2 || int64(shared)+calls != pages {
			t.Errorf("experiments backend saw %d calls for %d pages, %v shared: want most shared, and the two adding up", calls, pages, shared)
		}
	}
}
