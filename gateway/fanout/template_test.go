package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		path   string
		params ParamMap
		field  string // the value of {a.f}
		want   string
	}{
		{"a literal path is returned as is", "/experiments", nil, "", "/experiments"},
		{"a parameter", "/experiments/{id}", ParamMap{"id": "42"}, "", "/experiments/42"},
		{"a field", "/layers/{a.f}", nil, "7", "/layers/7"},
		{"both, with literal text between and after", "/p/{id}/l/{a.f}/settings", ParamMap{"id": "3"}, "9", "/p/3/l/9/settings"},
		{"adjacent references", "/{id}{a.f}", ParamMap{"id": "x"}, "y", "/xy"},
		{"a slash in a value is escaped: it cannot change the route", "/experiments/{id}", ParamMap{"id": "../admin"}, "", "/experiments/..%2Fadmin"},
		{"spaces, '?', '#' and '%' in a value are escaped", "/e/{id}", ParamMap{"id": "a b?c#d%"}, "", "/e/a%20b%3Fc%23d%25"},
		{"sub-delimiters a path segment allows stay", "/e/{id}", ParamMap{"id": "a:b@c=d&e+f$"}, "", "/e/a:b@c=d&e+f$"},
		{"in the query, '&', '=' and '+' are escaped", "/e?project_id={id}&x=1", ParamMap{"id": "1&admin=true+"}, "", "/e?project_id=1%26admin%3Dtrue%2B&x=1"},
		{"non-ASCII values are escaped as UTF-8", "/e/{a.f}", nil, "é", "/e/%C3%A9"},
		{"an empty value in the query", "/e?id={id}&f={a.f}", ParamMap{"id": ""}, "", "/e?id=&f="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := parseTemplate(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]value, 1)
			for i := range tmpl.segs {
				if tmpl.segs[i].kind == segField {
					tmpl.segs[i].slot = 0
				}
			}
			vals[0] = value{text: []byte(tc.field)}
			got, err := tmpl.expand(nil, tc.params, vals)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("expand(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

func TestExpandMissingParameter(t *testing.T) {
	tmpl, err := parseTemplate("/e/{id}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.expand(nil, ParamMap{}, nil)
	if !errors.Is(err, ErrParam) || !strings.Contains(err.Error(), "{id}") {
		t.Errorf("err = %v, want ErrParam naming {id}", err)
	}
}

func TestEscapeMatchesPathEscape(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	if got, want := string(appendEscaped(nil, all, false)), url.PathEscape(string(all)); got != want {
		t.Errorf("path escaping differs from url.PathEscape:\n got %s\nwant %s", got, want)
	}
	// In a query value only unreserved characters stay; the result must
	// decode back to the value and never contain a delimiter.
	q := string(appendEscaped(nil, all, true))
	if strings.ContainsAny(q, "&=+;#? /") {
		t.Errorf("query escaping leaves a delimiter: %s", q)
	}
	if back, err := url.QueryUnescape(q); err != nil || back != string(all) {
		t.Errorf("query escaping does not round-trip: %v", err)
	}
}

// FuzzCompileTemplate checks that parsing any path never panics, and that a
// path it accepts rebuilds from its segments and expands into a path of
// printable ASCII without fragment.
func FuzzCompileTemplate(f *testing.F) {
	f.Add("/experiments/{experiment_id}")
	f.Add("/layers/{experiment.layer_id}")
	f.Add("/e?project_id={project_id}&page={page}")
	f.Fuzz(func(t *testing.T, path string) {
		tmpl, err := parseTemplate(path)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, sg := range tmpl.segs {
			switch sg.kind {
			case segLiteral:
				b.WriteString(sg.text)
			case segParam:
				b.WriteString("{" + sg.name + "}")
			case segField:
				b.WriteString("{" + sg.name + "." + sg.field + "}")
			}
		}
		if b.String() != path {
			t.Fatalf("segments rebuild %q, not %q", b.String(), path)
		}
		// Every name a template accepts must be usable in a plan.
		var params []string
		var calls []CallSpec
		fields := map[string]string{}
		seen := map[string]bool{"self": true}
		for _, sg := range tmpl.segs {
			if sg.kind == segParam {
				params = append(params, sg.name)
			}
			if sg.kind == segField {
				fields[sg.field] = sg.field + "/ ?#&="
			}
			if sg.kind == segField && !seen[sg.name] {
				seen[sg.name] = true
				calls = append(calls, CallSpec{Name: sg.name, Backend: "b", Path: "/"})
			}
		}
		calls = append(calls, CallSpec{Name: "self", Backend: "b", Path: path})
		p, err := Compile("op", calls, params)
		if err != nil {
			if strings.Contains(path, "{self.") {
				return // a call may not refer to itself
			}
			t.Fatalf("Compile rejects a template parseTemplate accepts: %v", err)
		}
		body, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		r := sequential{}.Execute(t.Context(), p, anyParams{}, pathCheckingDoer{body})
		defer r.Release()
		o := r.Outcomes[p.Index("self")]
		if o.Err != nil {
			t.Fatalf("expanding %q: %v", path, o.Err)
		}
	})
}

// anyParams gives every parameter a value that needs escaping.
type anyParams struct{}

func (anyParams) Param(name string) (string, bool) { return name + "/ ?#&=", true }

// pathCheckingDoer checks that the path it is given is printable ASCII
// without fragment, and answers its body.
type pathCheckingDoer struct{ body []byte }

func (d pathCheckingDoer) Do(_ context.Context, backend, method, path string) (int, []byte, error) {
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return 0, nil, fmt.Errorf("expanded path %q has byte %#02x", path, c)
		}
	}
	return 200, d.body, nil
}

// FuzzExpand checks that any value, in a path segment or a query, expands to
// an escaped path that decodes back to the value.
func FuzzExpand(f *testing.F) {
	f.Add("42", "7")
	f.Add("../admin", "a b")
	f.Add("é?#%", "&=+;")
	pathTmpl, err := parseTemplate("/e/{id}/l/{a.f}")
	if err != nil {
		f.Fatal(err)
	}
	queryTmpl, err := parseTemplate("/e?id={id}&f={a.f}")
	if err != nil {
		f.Fatal(err)
	}
	for _, tmpl := range []*template{&pathTmpl, &queryTmpl} {
		for i := range tmpl.segs {
			tmpl.segs[i].slot = 0
		}
	}
	f.Fuzz(func(t *testing.T, param, field string) {
		vals := []value{{text: []byte(field)}}
		got, err := pathTmpl.expand(nil, ParamMap{"id": param}, vals)
		switch {
		case dotSegment(param) || dotSegment(field):
			// Escaping leaves "", "." and ".." as they are: they must be refused.
			if err == nil {
				t.Fatalf("path %q built from the dot segment %q or %q", got, param, field)
			}
		case err != nil:
			t.Fatal(err)
		case got != "/e/"+url.PathEscape(param)+"/l/"+url.PathEscape(field):
			t.Fatalf("path: got %q, want %q", got, "/e/"+url.PathEscape(param)+"/l/"+url.PathEscape(field))
		}
		if err != nil {
			got = "/e/" + url.PathEscape(param) + "/l/" + url.PathEscape(field)
		}
		if want := "/e/" + url.PathEscape(param) + "/l/" + url.PathEscape(field); got != want {
			t.Fatalf("path: got %q, want %q", got, want)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("expanded path %q does not parse: %v", got, err)
		}
		if want := "/e/" + param + "/l/" + field; u.Path != want && !strings.ContainsAny(param+field, "/") {
			t.Fatalf("path %q decodes to %q, want %q", got, u.Path, want)
		}
		got, err = queryTmpl.expand(nil, ParamMap{"id": param}, vals)
		if err != nil {
			t.Fatal(err)
		}
		u, err = url.Parse(got)
		if err != nil {
			t.Fatalf("expanded query %q does not parse: %v", got, err)
		}
		q := u.Query()
		if u.Path != "/e" || len(q) != 2 || q.Get("id") != param || q.Get("f") != field {
			t.Fatalf("query %q decodes to %q %v, want id=%q f=%q", got, u.Path, q, param, field)
		}
	})
}

// digits is a FieldRule check as the gateway would build from an id
// schema: one to three decimal digits.
func digits(s string) error {
	if len(s) == 0 || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return errors.New("not 1-3 digits")
	}
	return nil
}

// bodyDoer answers the experiments backend with body and every other
// backend with its usual body, recording what it is asked.
type bodyDoer struct {
	body []byte
	mu   *sync.Mutex
	sent *[]string
}

func (d bodyDoer) Do(_ context.Context, backend, _, path string) (int, []byte, error) {
	d.mu.Lock()
	*d.sent = append(*d.sent, path)
	d.mu.Unlock()
	if backend == "experiments" {
		return 200, d.body, nil
	}
	return 200, bodies[backend], nil
}

// TestFieldRules checks that a field which does not satisfy the rule of the
// reference it fills never reaches a path: its dependent is not sent, and
// the error names the call and the field.
func TestFieldRules(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	calls[1].Fields = map[string]FieldRule{"experiment.layer_id": {Check: digits}}
	p := mustCompile(t, "results", calls, resultsParams)
	for _, tc := range []struct {
		name    string
		layerID string // the JSON value of layer_id
		sent    bool
	}{
		{"a valid id is sent", `"7"`, true},
		{"dot-dot", `".."`, false},
		{"dot", `"."`, false},
		{"a path through the parent", `"1/../../_admin/config"`, false},
		{"an escaped slash", `"1%2F..%2Fadmin"`, false},
		{"a query", `"1?admin=1"`, false},
		{"a fragment", `"1#x"`, false},
		{"CR LF", `"1\r\nHost: evil"`, false},
		{"NUL", `"1\u0000"`, false},
		{"empty", `""`, false},
		{"negative", `"-1"`, false},
		{"too long", `"` + strings.Repeat("9", 300) + `"`, false},
		{"a JSON number where the rule wants a string", `7`, false},
		{"null", `null`, false},
		{"an object", `{"id":"7"}`, false},
		{"missing", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"id":"42","project_id":"3","layer_id":` + tc.layerID + `}`
			if tc.layerID == "" {
				body = `{"id":"42","project_id":"3"}`
			}
			var mu sync.Mutex
			var sent []string
			r := sequential{}.Execute(t.Context(), p, ParamMap{"experiment_id": "42"}, bodyDoer{[]byte(body), &mu, &sent})
			defer r.Release()
			o := r.Outcomes[p.Index("layer")]
			if tc.sent {
				if !o.Sent || o.Err != nil {
					t.Fatalf("layer not sent: %v", o.Err)
				}
				return
			}
			for _, path := range sent {
				if strings.HasPrefix(path, "/layers") {
					t.Fatalf("sent %q", path)
				}
			}
			var de *DependencyError
			if o.Sent || !errors.As(o.Err, &de) || de.Call != "experiment" || de.Field != "layer_id" || !errors.Is(o.Err, ErrField) {
				t.Fatalf("outcome sent=%v err=%v, want a DependencyError on experiment.layer_id", o.Sent, o.Err)
			}
		})
	}
}

// TestFieldRuleForNoReference: a rule whose key no reference uses is a
// start-up error, not a check that silently never runs.
func TestFieldRuleForNoReference(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	calls[1].Fields = map[string]FieldRule{"experiment.layerid": {Check: digits}}
	if _, err := Compile("results", calls, resultsParams); err == nil || !strings.Contains(err.Error(), "experiment.layerid") {
		t.Fatalf("Compile: %v, want an error naming the rule", err)
	}
}

// TestFieldRulesStrayNamedInOrder: of several stray rules, Compile names the
// first in key order, every time, so that a start-up error does not change
// from one run to the next.
func TestFieldRulesStrayNamedInOrder(t *testing.T) {
	calls := slices.Clone(resultsCalls)
	calls[1].Fields = map[string]FieldRule{
		"experiment.zone": {}, "experiment.layerid": {}, "experiment.owner": {}, "experiment.layer_id": {Check: digits},
	}
	for range 20 {
		if _, err := Compile("results", calls, resultsParams); err == nil || !strings.Contains(err.Error(), "{experiment.layerid}") {
			t.Fatalf("Compile: %v, want an error naming experiment.layerid, the first stray rule", err)
		}
	}
}
