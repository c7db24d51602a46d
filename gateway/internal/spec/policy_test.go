package spec

import (
	"strings"
	"testing"

	"fanout/gateway/fanout"
)

// TestPolicies checks that the shipped document's policies are read: the
// results call of the results page is hedged at the learned p95, its
// experiment call coalesced.
func TestPolicies(t *testing.T) {
	op := load(t).Operation("getExperimentResults")
	calls := op.Fanout.Calls
	h, _ := calls[3].Policies["hedge"].(*fanout.HedgeSpec)
	if calls[3].Name != "results" || h == nil || *h != (fanout.HedgeSpec{Quantile: 0.95, Max: 1}) {
		t.Errorf("results call: hedge %+v, want p95 max 1", calls[3].Policies)
	}
	if retry, _ := calls[3].Policies["retry"].(bool); !retry {
		t.Errorf("results call: policies %v, want retry", calls[3].Policies)
	}
	if len(calls[0].Policies) != 1 || calls[0].Policies["coalesce"] != true {
		t.Errorf("experiment call: policies %v, want coalesced only", calls[0].Policies)
	}
}

// TestPolicyErrors checks that a bad policy declaration fails the load,
// naming the operation and the call.
func TestPolicyErrors(t *testing.T) {
	results := "            allow_not_found: true\n            hedge: {after: p95, max: 1}\n"
	for _, c := range []struct{ old, new, want string }{
		// Rows on the results page's results call.
		{results, "            allow_not_found: true\n            hedge: {after: 30ms, tries: 2}\n", `unknown field "tries"`},
		{results, "            allow_not_found: true\n            hedge: {after: -30ms}\n", `after "-30ms"`},
		{results, "            allow_not_found: true\n            hedge: {after: p100}\n", `after "p100"`},
		{results, "            allow_not_found: true\n            hedge: {max: 1}\n", "after: missing"},
		{results, "            allow_not_found: true\n            hedge: {after: 1ms, max: 0}\n", "max 0"},
		{results, "            allow_not_found: true\n            cache: -1s\n", `cache "-1s"`},
		{results, "            allow_not_found: true\n            retries: 3\n", `unknown field "retries"`},
		// Hedging or coalescing a POST is refused.
		{"            method: POST\n", "            method: POST\n            hedge: {after: 30ms}\n", "only GET calls may be hedged"},
		{"            method: POST\n", "            method: POST\n            coalesce: true\n", "only GET calls may share"},
		{"            method: POST\n", "            method: POST\n            retry: true\n", "only a GET call may be retried"},
		{"            method: POST\n", "            method: POST\n            cache: 1s\n", "only the answers of GET calls may be cached"},
	} {
		err := loadEdited(t, c.old, c.new)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("edit %q: error %v, want %q", c.new, err, c.want)
			continue
		}
		op, call := "getExperimentResults", `"results"`
		if strings.Contains(c.new, "POST") {
			op, call = "createExperiment", `"create"`
		}
		if !strings.Contains(err.Error(), op) || !strings.Contains(err.Error(), call) {
			t.Errorf("edit %q: error %q does not name operation %s and call %s", c.new, err, op, call)
		}
	}
}
