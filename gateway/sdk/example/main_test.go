package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/sdk"
	"fanout/mockbackends/mock"
)

// startFanout serves a gateway over the mock backends until the test ends
// and returns its base URL.
func startFanout(t *testing.T) string {
	t.Helper()
	cluster, err := mock.Start(mock.Options{NoLatency: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Close(); err != nil {
			t.Errorf("close mock backends: %v", err)
		}
	})
	cfg := config.Default()
	cfg.Backends = config.Backends(cluster.Addrs())
	_, addr := assemblytest.Serve(t, cfg)
	return "http://" + addr
}

// recorder is an sdk.HttpRequestDoer that keeps the headers of every
// request it sends.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.requests = append(r.requests, req.Clone(context.Background()))
	r.mu.Unlock()
	return http.DefaultClient.Do(req)
}

// TestEndToEnd uses the SDK as a client does: it pages through a project's
// experiments until the total, creates one with an Idempotency-Key and
// reads its results page, every request carrying the bearer token.
func TestEndToEnd(t *testing.T) {
	url := startFanout(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rec recorder
	c, err := sdk.NewClientWithResponses(url, sdk.WithHTTPClient(&rec), sdk.WithBearerToken(assemblytest.Token))
	if err != nil {
		t.Fatal(err)
	}

	const project, perPage = "3", 7
	seen := map[string]bool{}
	var total, pages int
	for page := sdk.Page(1); ; page++ {
		size := sdk.PerPage(perPage)
		r, err := c.ListExperimentsWithResponse(ctx, &sdk.ListExperimentsParams{ProjectId: project, Page: &page, PerPage: &size})
		if err != nil {
			t.Fatal(err)
		}
		if r.JSON200 == nil {
			t.Fatalf("page %d: %d %s", page, r.StatusCode(), r.Body)
		}
		pages++
		total = int(r.JSON200.Total)
		for _, e := range r.JSON200.Items {
			if e.ProjectId != project || seen[e.Id] {
				t.Errorf("page %d: experiment %s of project %s (seen before: %t)", page, e.Id, e.ProjectId, seen[e.Id])
			}
			seen[e.Id] = true
		}
		if int64(page) >= r.JSON200.TotalPages {
			break
		}
	}
	if total == 0 || len(seen) != total || pages != (total+perPage-1)/perPage {
		t.Errorf("%d experiments in %d pages, total %d", len(seen), pages, total)
	}

	key := "create-checkout-1"
	cr, err := c.CreateExperimentWithResponse(ctx, &sdk.CreateExperimentParams{IdempotencyKey: &key}, sdk.NewExperiment{ProjectId: project, Name: "Checkout button colour"})
	if err != nil {
		t.Fatal(err)
	}
	if cr.JSON201 == nil {
		t.Fatalf("create: %d %s", cr.StatusCode(), cr.Body)
	}
	created := cr.JSON201
	if created.ProjectId != project || created.Name != "Checkout button colour" || seen[created.Id] {
		t.Errorf("created %+v", created)
	}
	if _, err := strconv.ParseUint(created.Id, 10, 64); err != nil {
		t.Errorf("created id %q: %v", created.Id, err)
	}

	rr, err := c.GetExperimentResultsWithResponse(ctx, created.Id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.JSON200 == nil || rr.JSON200.Experiment.Id != created.Id || rr.JSON200.ResultsStatus != sdk.NoneYet {
		t.Fatalf("results of %s: %d %s", created.Id, rr.StatusCode(), rr.Body)
	}

	// What went on the wire.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.requests) != pages+2 {
		t.Errorf("%d requests, want %d", len(rec.requests), pages+2)
	}
	for _, req := range rec.requests {
		if got := req.Header.Get("Authorization"); got != assemblytest.Authorization {
			t.Errorf("%s %s: Authorization %q", req.Method, req.URL.Path, got)
		}
		key := req.Header.Get("Idempotency-Key")
		if want := req.Method == http.MethodPost; (key == "create-checkout-1") != want {
			t.Errorf("%s %s: Idempotency-Key %q", req.Method, req.URL.Path, key)
		}
	}
}

// TestExample runs the session against an in-process gateway and mock
// backends: it lists every experiment of the project, page by page, then
// creates one and reads its results page.
func TestExample(t *testing.T) {
	url := startFanout(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, url, assemblytest.Token, "3"); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{
		`(?m)^experiment \d+ \w+: .+$`,
		`(?m)^\d+ experiments in project 3$`,
		`(?m)^created experiment \d+ \w+: Checkout button colour$`,
		`(?m)^results of experiment \d+: none_yet, 0 metrics, partial: false$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("no line matches %s", want)
		}
	}
}
