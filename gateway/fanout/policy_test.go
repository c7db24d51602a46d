package fanout

import (
	"strings"
	"testing"
	"time"
)

// TestCompilePolicies checks that a policy a call cannot have fails the
// compilation, naming the operation and the call.
func TestCompilePolicies(t *testing.T) {
	for _, tc := range []struct {
		spec CallSpec
		want string // "" for a valid declaration
	}{
		// A hedged GET with a fixed delay and one with a learned one are fine.
		{CallSpec{Hedge: &HedgeSpec{After: 30 * time.Millisecond, Max: 1}}, ""},
		{CallSpec{Hedge: &HedgeSpec{Quantile: 0.95}, Coalesce: true, Cache: time.Second}, ""},
		// A POST has effects: no duplicate, no sharing, no cache.
		{CallSpec{Method: "post", Hedge: &HedgeSpec{After: time.Millisecond}}, "only GET calls may be hedged"},
		{CallSpec{Method: "POST", Coalesce: true}, "coalesce"},
		{CallSpec{Method: "POST", Cache: time.Second}, "cache"},
		// Negative or absent figures.
		{CallSpec{Hedge: &HedgeSpec{After: -time.Millisecond}}, "negative delay"},
		{CallSpec{Hedge: &HedgeSpec{}}, "no delay"},
		{CallSpec{Hedge: &HedgeSpec{After: time.Millisecond, Max: -1}}, "negative max"},
		{CallSpec{Hedge: &HedgeSpec{Quantile: 1.5}}, "quantile"},
		{CallSpec{Cache: -time.Second}, "negative lifetime"},
	} {
		s := tc.spec
		s.Name, s.Backend, s.Path = "results", "results", "/results/{experiment_id}"
		_, err := Compile("getExperimentResults", []CallSpec{s}, resultsParams)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.spec, err)
		case tc.want != "" && err == nil:
			t.Errorf("%+v: compiled, want an error with %q", tc.spec, tc.want)
		case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `getExperimentResults: call "results"`)):
			t.Errorf("%+v: error %q, want one naming the operation, the call and %q", tc.spec, err, tc.want)
		}
	}
}
