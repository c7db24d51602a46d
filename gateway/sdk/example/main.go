// Command example is a session with the Fanout API through the Go SDK
// (fanout/gateway/sdk): it pages through a project's experiments, creates
// one with an Idempotency-Key, and reads its results page. Against
// `make run`:
//
//	go run ./gateway/sdk/example -url http://127.0.0.1:8080 -token "$FANOUT_TOKEN" -project 3
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"fanout/gateway/sdk"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the gateway's base `URL`")
	token := flag.String("token", os.Getenv("FANOUT_TOKEN"), "the bearer `token` (default $FANOUT_TOKEN)")
	project := flag.String("project", "3", "the `id` of the project")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, *url, *token, *project); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// perPage is the size of the pages the session asks for.
const perPage = 10

// run is the session, against the gateway at baseURL, writing what it
// sees to out.
func run(ctx context.Context, out io.Writer, baseURL, token, project string) error {
	c, err := sdk.NewClientWithResponses(baseURL, sdk.WithBearerToken(token))
	if err != nil {
		return err
	}

	// Page through the project's experiments.
	listed := 0
	for page := sdk.Page(1); ; page++ {
		size := sdk.PerPage(perPage)
		r, err := c.ListExperimentsWithResponse(ctx, &sdk.ListExperimentsParams{ProjectId: project, Page: &page, PerPage: &size})
		if err != nil {
			return fmt.Errorf("list experiments: %w", err)
		}
		if r.JSON200 == nil {
			return failed("list experiments", r.HTTPResponse, r.Body)
		}
		for _, e := range r.JSON200.Items {
			fmt.Fprintf(out, "experiment %s %s: %s\n", e.Id, e.Status, e.Name)
		}
		listed += len(r.JSON200.Items)
		if int64(page) >= r.JSON200.TotalPages {
			break
		}
	}
	fmt.Fprintf(out, "%d experiments in project %s\n", listed, project)

	// Create one. The key names this create: sent again after a timeout,
	// the same request is answered as the first was, not created twice.
	key, err := newKey()
	if err != nil {
		return err
	}
	cr, err := c.CreateExperimentWithResponse(ctx, &sdk.CreateExperimentParams{IdempotencyKey: &key}, sdk.NewExperiment{ProjectId: project, Name: "Checkout button colour"})
	if err != nil {
		return fmt.Errorf("create an experiment: %w", err)
	}
	if cr.JSON201 == nil {
		return failed("create an experiment", cr.HTTPResponse, cr.Body)
	}
	created := cr.JSON201
	fmt.Fprintf(out, "created experiment %s %s: %s\n", created.Id, created.Status, created.Name)

	// Read its results page.
	rr, err := c.GetExperimentResultsWithResponse(ctx, created.Id, nil)
	if err != nil {
		return fmt.Errorf("read the results of experiment %s: %w", created.Id, err)
	}
	if rr.JSON200 == nil {
		return failed("read the results of experiment "+created.Id, rr.HTTPResponse, rr.Body)
	}
	fmt.Fprintf(out, "results of experiment %s: %s, %d metrics, partial: %t\n", rr.JSON200.Experiment.Id, rr.JSON200.ResultsStatus, len(rr.JSON200.Metrics), rr.JSON200.Partial)
	return nil
}

// newKey returns a fresh Idempotency-Key.
func newKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("idempotency key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// failed is the error of a call answered with another status than its
// success: the status and the problem the gateway sent.
func failed(what string, resp *http.Response, body []byte) error {
	return fmt.Errorf("%s: %s: %s", what, resp.Status, body)
}
