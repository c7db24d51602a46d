package load

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// draw returns the URLs of n targets from a targeter of a.
func draw(t *testing.T, a Attack, n int) []string {
	t.Helper()
	tr, _ := newTargeter(a)
	out := make([]string, n)
	for i := range out {
		var tgt vegeta.Target
		if err := tr(&tgt); err != nil {
			t.Fatal(err)
		}
		out[i] = tgt.URL
	}
	return out
}

// TestZipfTargets checks that a Zipf target concentrates requests on a few
// hot ids (id Min hottest), where a uniform one spreads them, and that a
// seed replays the same ids.
func TestZipfTargets(t *testing.T) {
	target := Target{Method: "GET", Path: "/x/{id}", IDs: IDRange{Min: 1, Max: 1000}, Weight: 1}
	hot := func(urls []string) float64 {
		counts := map[string]int{}
		for _, u := range urls {
			counts[u]++
		}
		top := slices.Sorted(func(yield func(int) bool) {
			for _, c := range counts {
				if !yield(c) {
					return
				}
			}
		})
		slices.Reverse(top)
		var sum int
		for _, c := range top[:min(10, len(top))] {
			sum += c
		}
		return float64(sum) / float64(len(urls))
	}
	const n = 20000
	uniform := draw(t, Attack{BaseURL: "http://gw", Targets: []Target{target}, Seed: 1}, n)
	target.Zipf = 1.1
	zipf := draw(t, Attack{BaseURL: "http://gw", Targets: []Target{target}, Seed: 1}, n)
	// Ten ids of a thousand: 1 % of requests when uniform; about half
	// under Zipf(1.1).
	if h := hot(uniform); h > 0.03 {
		t.Errorf("uniform: the ten hottest ids took %.1f%% of requests", 100*h)
	}
	if h := hot(zipf); h < 0.3 {
		t.Errorf("zipf 1.1: the ten hottest ids took only %.1f%% of requests", 100*h)
	}
	counts := map[string]int{}
	for _, u := range zipf {
		counts[u]++
	}
	if counts["http://gw/x/1"] <= counts["http://gw/x/2"] || counts["http://gw/x/2"] <= counts["http://gw/x/10"] {
		t.Errorf("ids 1, 2, 10 drawn %d, %d, %d times: want the lowest ids hottest", counts["http://gw/x/1"], counts["http://gw/x/2"], counts["http://gw/x/10"])
	}
	if again := draw(t, Attack{BaseURL: "http://gw", Targets: []Target{target}, Seed: 1}, n); !slices.Equal(again, zipf) {
		t.Error("the same seed drew other ids")
	}
}

// TestRunHashesBodies checks that an attack that compares bodies keeps one
// hash per URL and counts a URL answered with two bodies.
func TestRunHashesBodies(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/x/2" && n.Add(1)%2 == 0 {
			_, _ = w.Write([]byte(`{"page":"other"}`))
			return
		}
		_, _ = w.Write([]byte(`{"page":"` + r.URL.Path + `"}`))
	}))
	t.Cleanup(srv.Close)
	rep, err := Run(t.Context(), Attack{
		Name: "bodies", BaseURL: srv.URL, Rate: 200, Duration: 300 * time.Millisecond, Seed: 1, Bodies: true,
		Targets: []Target{{Method: "GET", Path: "/x/{id}", IDs: IDRange{Min: 1, Max: 3}, Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rep.Bodies["/x/1"]; !ok {
		t.Errorf("hashes %v: want them by path, without the server's address", rep.Bodies)
	}
	if len(rep.Bodies) != 3 || rep.BodiesDiffering != 1 {
		t.Errorf("%d URLs hashed, %d differing: want 3 and 1 (/x/2)", len(rep.Bodies), rep.BodiesDiffering)
	}
}
