package server

import (
	"context"
	"testing"

	"fanout/gateway/fanout"

	"github.com/valyala/fasthttp"
)

// TestFailureNamesTheCauseNotTheAborted: when a required call's failure
// cut its siblings short, the problem names that call, even when the
// primary is among the calls cut short (it is checked first) and when the
// cause is a required call that could not be sent.
func TestFailureNamesTheCauseNotTheAborted(t *testing.T) {
	s, _ := benchServer(t)
	o := s.ops["getExperimentResults"]
	idx := o.plan.Index
	aborted := func(by string) error { return &fanout.AbortError{Call: by, Err: context.Canceled} }
	for _, tc := range []struct {
		name   string
		set    func(out []fanout.Outcome)
		call   string
		status int
	}{
		{"results failed, the experiment was cancelled in flight", func(out []fanout.Outcome) {
			out[idx("results")] = fanout.Outcome{Status: 500, Sent: true}
			out[idx("experiment")] = fanout.Outcome{Err: aborted("results"), Sent: true}
			out[idx("layer")] = fanout.Outcome{Err: &fanout.DependencyError{Call: "experiment", Err: aborted("results")}}
			out[idx("settings")] = fanout.Outcome{Err: &fanout.DependencyError{Call: "experiment", Err: aborted("results")}}
		}, "results", 502},
		{"results timed out, the experiment never sent", func(out []fanout.Outcome) {
			out[idx("results")] = fanout.Outcome{Err: context.DeadlineExceeded, Sent: true}
			out[idx("experiment")] = fanout.Outcome{Err: aborted("results")}
			out[idx("layer")] = fanout.Outcome{Err: &fanout.DependencyError{Call: "experiment", Err: aborted("results")}}
			out[idx("settings")] = fanout.Outcome{Err: &fanout.DependencyError{Call: "experiment", Err: aborted("results")}}
		}, "results", 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &fanout.Result{Outcomes: make([]fanout.Outcome, len(o.plan.Calls()))}
			tc.set(res.Outcomes)
			p, failed := s.failure(&request{ctx: &fasthttp.RequestCtx{}, op: o, res: res})
			if !failed || p.Call != tc.call || p.Status != tc.status {
				t.Errorf("failure: %v, %+v; want %d naming %q", failed, p, tc.status, tc.call)
			}
		})
	}
}
