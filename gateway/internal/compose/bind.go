package compose

import (
	"errors"
	"fmt"
	"strings"

	"fanout/gateway/fanout"
)

// The parts of a results page. The calls of the plan that serves the page
// are named for the parts they fetch: BindResults finds each part's call
// by its name, once at start-up, so that the server that runs the plan
// knows no call by name.
const (
	PartExperiment = "experiment"
	PartLayer      = "layer"
	PartSettings   = "settings"
	PartResults    = "results"
)

// parts lists every part, in the order of the fields of Input.
var parts = [...]string{PartExperiment, PartLayer, PartSettings, PartResults}

// Results is the results page bound to the plan of the operation that
// serves it: which call fetches which part. It is read-only after
// BindResults and safe for concurrent use.
type Results struct {
	// part is, by call index, the index in parts of the part the call
	// fetches, or -1 for a call the page does not read.
	part []int
	// call is, by part, the index of the call that fetches it.
	call [len(parts)]int
}

// BindResults binds the results page to plan. The plan must have a call
// named for each part; the only call whose 404 the page can render (as
// results not there yet) is the results call, so no other call may allow
// a 404 (allow_not_found).
func BindResults(plan *fanout.Plan) (*Results, error) {
	r := &Results{part: make([]int, plan.Len())}
	for i := range r.part {
		r.part[i] = -1
	}
	var lacking []string
	for p, name := range parts {
		i := plan.Index(name)
		if i < 0 {
			lacking = append(lacking, name)
			continue
		}
		r.call[p], r.part[i] = i, p
	}
	if len(lacking) > 0 {
		return nil, fmt.Errorf("results page: the plan has no call named %s", strings.Join(lacking, ", "))
	}
	for _, c := range plan.Calls() {
		if c.Spec.AllowNotFound && c.Spec.Name != PartResults {
			return nil, fmt.Errorf("results page: call %q: the page cannot render its 404, yet it has allow_not_found", c.Spec.Name)
		}
	}
	return r, nil
}

// Set gives in the body of call i for its part; nil says the call did not
// deliver. A call the page does not read is ignored.
func (r *Results) Set(in *Input, i int, body []byte) {
	switch r.partOf(i) {
	case PartExperiment:
		in.Experiment = body
	case PartLayer:
		in.Layer = body
	case PartSettings:
		in.Settings = body
	case PartResults:
		in.Results = body
	}
}

// NotYet records that call i answered 404 for a part that allows one: the
// results service has none for the experiment yet. BindResults made sure
// that only the results call can.
func (r *Results) NotYet(in *Input, i int) {
	if r.partOf(i) == PartResults {
		in.NoResultsYet = true
	}
}

// Compose appends the page of in to dst, as ResultsPage does. When a
// required part cannot be used it returns the index of the call that
// fetched it, for the caller to blame, with the error.
func (r *Results) Compose(dst []byte, in *Input) ([]byte, int, error) {
	b, err := ResultsPage(dst, in)
	if err == nil {
		return b, -1, nil
	}
	blame := r.call[0] // the experiment, which every other part hangs on
	var pe *PartError
	if errors.As(err, &pe) {
		for p, name := range parts {
			if name == pe.Part {
				blame = r.call[p]
			}
		}
	}
	return b, blame, err
}

// partOf names the part call i fetches, or "" if the page does not read it.
func (r *Results) partOf(i int) string {
	if i < 0 || i >= len(r.part) || r.part[i] < 0 {
		return ""
	}
	return parts[r.part[i]]
}
