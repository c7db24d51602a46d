package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
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
	fl, err := launch.StartFloor(ctx, floorBin, mocks, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := fl.Stop(launch.DefaultGrace); err != nil {
			t.Errorf("the floor did not stop cleanly: %v", err)
		}
	}()
	gw, err := launch.StartGateway(ctx, gatewayBin, launch.Gateway{Args: []string{"-auth", "off", "-log-level", "warn"}}, mocks, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Stop(launch.DefaultGrace)

	floorURL, gatewayURL := "http://"+fl.Addr("floor"), "http://"+gw.Addr("gateway")
	for _, id := range []string{"7", "42"} {
		path := "/v2/experiments/" + id + "/results"
		gs, gb := get(t, gatewayURL+path)
		fs, fb := get(t, floorURL+path)
		if gs != http.StatusOK || fs != http.StatusOK {
			t.Fatalf("%s: gateway %d, floor %d, want 200 from both; floor said %.200s", path, gs, fs, fb)
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
