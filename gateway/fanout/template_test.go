package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
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
		{"an empty value", "/e/{id}/x", ParamMap{"id": ""}, "", "/e//x"},
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
		if err != nil {
			t.Fatal(err)
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
