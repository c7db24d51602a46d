package spec

import (
	"slices"
	"testing"
)

// TestAnswerChecksFromDocument: every call checks the identity of its
// answers, and a call that fetches a resource an operation serves as its
// backend sent it is held to the fields that operation's schema requires,
// in any operation (the results page's experiment call is held to the
// Experiment schema of getExperiment); a page of a collection, which the
// gateway completes, and a resource the document does not describe are not.
func TestAnswerChecksFromDocument(t *testing.T) {
	s := load(t)
	experiment := s.Operation("getExperiment").Route().Operation.Responses.Status(200).Value.Content.Get("application/json").Schema.Value.Required
	if len(experiment) == 0 {
		t.Fatal("the Experiment schema requires nothing: the test would prove nothing")
	}
	for _, tc := range []struct {
		op, call string
		required []string
	}{
		{"getExperiment", "experiment", experiment},
		{"getExperimentResults", "experiment", experiment},
		{"getExperimentResults", "layer", nil},
		{"getExperimentResults", "results", nil},
		{"listExperiments", "experiments", nil},
	} {
		op := s.Operation(tc.op)
		p := op.Plan
		c := p.Calls()[p.Index(tc.call)].Spec
		if !c.Identify {
			t.Errorf("%s %s: answers' identity not checked", tc.op, tc.call)
		}
		if !slices.Equal(c.Required, tc.required) {
			t.Errorf("%s %s: required %v, want %v", tc.op, tc.call, c.Required, tc.required)
		}
	}
}
