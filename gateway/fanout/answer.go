package fanout

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// ErrMalformed marks the Outcome of a call whose 2xx answer the engine
// refused: it is not one JSON object nested at most MaxDepth deep, it gives
// a field the engine reads twice, no field of it carries the identity its
// path asked for (or another one does), or it lacks a field of
// CallSpec.Required. The error is an *AnswerError; the call counts as
// failed, so that nothing of the answer is served or fills a dependent's
// path.
var ErrMalformed = errors.New("malformed answer")

// AnswerError is the Outcome.Err of a call whose answer was refused (see
// ErrMalformed). Why may quote the backend's bytes: it is for the log.
type AnswerError struct {
	Call string // the call, e.g. "experiment"
	Why  string // what is wrong with the answer
	// Stray is true when the answer names another resource than the one
	// asked for: an answer to another question, read on a connection out
	// of step, so that the call's own question was never answered.
	Stray bool
}

// Error says which call's answer was refused and why.
func (e *AnswerError) Error() string {
	return fmt.Sprintf("call %q: %v: %s", e.Call, ErrMalformed, e.Why)
}

// Is reports ErrMalformed, so callers need not know the type.
func (e *AnswerError) Is(target error) bool { return target == ErrMalformed }

// IdentityField is the field of an answer that carries the identity of
// the resource the call fetched when no field is named after the reference
// that built its path.
const IdentityField = "id"

// identityOf returns the reference of t that names the resource the call
// fetches: the last one of the path part that fills a whole segment
// ({experiment_id} in /experiments/{experiment_id}, {experiment.project_id}
// in /projects/{experiment.project_id}/settings); nil if there is none, as
// for a collection searched by a query.
func identityOf(t *template) *segment {
	var id *segment
	for i := range t.segs {
		sg := &t.segs[i]
		if sg.kind == segLiteral || sg.query {
			continue
		}
		before := i > 0 && t.segs[i-1].kind == segLiteral && t.segs[i-1].text[len(t.segs[i-1].text)-1] == '/'
		after := i == len(t.segs)-1 ||
			t.segs[i+1].kind == segLiteral && (t.segs[i+1].text[0] == '/' || t.segs[i+1].text[0] == '?')
		if before && after {
			id = sg
		}
	}
	return id
}

// refName is the name a reference gives its value: the parameter's, or
// the field's.
func (sg *segment) refName() string {
	if sg.kind == segField {
		return sg.field
	}
	return sg.name
}

// readAnswer prepares the checks of call's answer: the fields that carry
// its identity (the one named after the identity reference, else
// IdentityField) if it has CallSpec.Identify, and its required fields, join the fields read for its
// dependents, so that one pass of extract reads them all.
func (st *step) readAnswer(call CallSpec) {
	if !call.Identify {
		st.identity = nil
	} else if st.identity = identityOf(&st.tmpl); st.identity != nil {
		st.named = st.field(st.identity.refName())
		st.id = st.field(IdentityField)
	}
	for _, f := range call.Required {
		st.required = append(st.required, st.field(f))
	}
	st.read = len(st.fields) > 0
}

// field returns the index of name in st.fields, added if absent.
func (st *step) field(name string) int {
	for k, f := range st.fields {
		if f == name {
			return k
		}
	}
	st.fields = append(st.fields, name)
	return len(st.fields) - 1
}

// check says why an answer whose fields extract read into vals may not be
// delivered, "" if it may, and whether it is the answer to another
// question (stray: its identity is not the one asked for). params and all
// (every value slot of the run) give the value the identity reference
// filled the path with. The messages are built only on failure.
func (st *step) check(vals []value, params Params, all []value) (why string, stray bool) {
	for k := range vals {
		switch vals[k].why {
		case malformed:
			return fmt.Sprintf("not one JSON value nested at most %d deep", MaxDepth), false
		case duplicate:
			return fmt.Sprintf("field %q given more than once", st.fields[k]), false
		}
	}
	if sg := st.identity; sg != nil {
		// The value the path was built with, compared without a copy.
		var want []byte
		if sg.kind == segField {
			want = all[sg.slot].text
		} else if params != nil {
			v, _ := params.Param(sg.name)
			want = unsafe.Slice(unsafe.StringData(v), len(v))
		}
		got := &vals[st.named]
		if got.why == absent {
			got = &vals[st.id]
		}
		if got.why != present {
			return fmt.Sprintf("no field %q or %q carries the identity %.40q", sg.refName(), IdentityField, want), false
		}
		if string(got.text) != string(want) {
			return fmt.Sprintf("the answer is for %.40q, not for the %.40q asked for", got.text, want), true
		}
	}
	for _, k := range st.required {
		if why := vals[k].why; why == absent || why == notObject {
			return fmt.Sprintf("no field %q, which the document requires", st.fields[k]), false
		}
	}
	return "", false
}

// readAnswer reads the 2xx answer of call i, which arrived at done: the
// fields its dependents need, and the checks of its identity and required
// fields. An answer that fails them, or that came after the call's
// deadline, makes the call fail: the answer is not read once nobody waits
// for it, and the scan, one pass bounded by MaxDepth, is the only work
// done on a hostile body.
func (r *run) readAnswer(ctx context.Context, i int, done time.Time) {
	o := &r.res.Outcomes[i]
	st := &r.plan.steps[i]
	if d, ok := ctx.Deadline(); ok && !done.Before(d) {
		o.Err = fmt.Errorf("call %q: answered past its deadline: %w", r.plan.calls[i].Spec.Name, context.DeadlineExceeded)
		return
	}
	vals := r.vals[st.slot0 : st.slot0+len(st.fields)]
	extract(o.Body, st.fields, vals)
	if why, stray := st.check(vals, r.params, r.vals); why != "" {
		o.Err = &AnswerError{Call: r.plan.calls[i].Spec.Name, Why: why, Stray: stray}
	}
}
