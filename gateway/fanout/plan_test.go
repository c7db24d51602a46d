package fanout

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCompileResultsPlan(t *testing.T) {
	// Given in an order that is not topological, to prove the order is inferred.
	specs := []CallSpec{resultsCalls[1], resultsCalls[3], resultsCalls[0], resultsCalls[2]}
	p := mustCompile(t, "getExperimentResults", specs, resultsParams)
	if got := p.Operation(); got != "getExperimentResults" {
		t.Errorf("Operation() = %q", got)
	}
	var names []string
	for i, c := range p.Calls() {
		names = append(names, c.Spec.Name)
		if c.Index != i {
			t.Errorf("call %q: Index = %d, want %d", c.Spec.Name, c.Index, i)
		}
		if c.Spec.Method != "GET" {
			t.Errorf("call %q: Method = %q, want GET for an empty method", c.Spec.Name, c.Spec.Method)
		}
		if p.Index(c.Spec.Name) != i {
			t.Errorf("Index(%q) = %d, want %d", c.Spec.Name, p.Index(c.Spec.Name), i)
		}
	}
	// Stable: among calls ready at once, the one given first comes first.
	if want := []string{"results", "experiment", "layer", "settings"}; !slices.Equal(names, want) {
		t.Errorf("topological order %v, want %v", names, want)
	}
	exp := p.Index("experiment")
	for _, name := range []string{"layer", "settings"} {
		c := p.Calls()[p.Index(name)]
		if !slices.Equal(c.Deps, []int{exp}) || c.Level != 1 {
			t.Errorf("call %q: Deps %v Level %d, want [%d] 1", name, c.Deps, c.Level, exp)
		}
	}
	if got, want := p.Levels(), [][]int{{0, 1}, {2, 3}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Levels() = %v, want %v", got, want)
	}
	if p.Index("nope") != -1 {
		t.Errorf("Index of an absent call is not -1")
	}
	if !p.Calls()[p.Index("settings")].Spec.Optional {
		t.Errorf("Optional was not kept")
	}
}

func TestPlanLimits(t *testing.T) {
	p := mustCompile(t, "getExperimentResults", resultsCalls, resultsParams)
	delays := storyDelays()
	d := func(c Call) time.Duration { return delays[c.Spec.Backend] }
	for _, tc := range []struct {
		name string
		f    func(func(Call) time.Duration) time.Duration
		want time.Duration
	}{
		{"critical path is the longest chain: max(20+15, 40)", p.CriticalPath, 40 * time.Millisecond},
		{"level sum adds each level's slowest: 40+15", p.LevelSum, 55 * time.Millisecond},
		{"sum adds everything", p.Sum, 85 * time.Millisecond},
	} {
		if got := tc.f(d); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	call := func(name, backend, path string) CallSpec {
		return CallSpec{Name: name, Backend: backend, Path: path}
	}
	for _, tc := range []struct {
		name  string
		calls []CallSpec
		want  string // substring of the error, after the operation's prefix
	}{
		{"no calls at all", nil, "no calls"},
		{"a call without a name", []CallSpec{call("", "b", "/x")}, `call #1: empty name`},
		{"a name that a template could not refer to", []CallSpec{call("a.b", "b", "/x")}, `call "a.b": name must be`},
		{"two calls with one name", []CallSpec{call("a", "b", "/x"), call("a", "b", "/y")}, `call "a": duplicate name (calls #1 and #2)`},
		{"no backend", []CallSpec{call("a", "", "/x")}, `call "a": empty backend`},
		{"no path", []CallSpec{call("a", "b", "")}, `call "a": path "": empty path`},
		{"a relative path", []CallSpec{call("a", "b", "x/{id}")}, `call "a": path "x/{id}": path must start with '/'`},
		{"an unclosed brace", []CallSpec{call("a", "b", "/x/{id")}, `call "a": path "/x/{id": unclosed '{' at offset 3`},
		{"a stray closing brace", []CallSpec{call("a", "b", "/x/id}")}, `'}' without '{' at offset 5`},
		{"nested braces", []CallSpec{call("a", "b", "/x/{i{d}}")}, `'{' inside a reference at offset 5`},
		{"an empty reference", []CallSpec{call("a", "b", "/x/{}")}, `empty reference {}`},
		{"a nested field", []CallSpec{call("a", "b", "/x"), call("c", "b", "/y/{a.b.c}")}, `call "c": path "/y/{a.b.c}": reference at offset 3: {a.b.c}: more than one '.'`},
		{"a field without a call", []CallSpec{call("a", "b", "/x/{.id}")}, `{.id}: want {call.field}`},
		{"a call without a field", []CallSpec{call("a", "b", "/x/{b.}")}, `{b.}: want {call.field}`},
		{"a space in a reference", []CallSpec{call("a", "b", "/x/{i d}")}, `byte ' ' not allowed in a name`},
		{"a space in the path", []CallSpec{call("a", "b", "/x y")}, `byte 0x20 at offset 2 is not allowed`},
		{"a fragment", []CallSpec{call("a", "b", "/x#y")}, `fragment '#' at offset 2`},
		{"a broken escape", []CallSpec{call("a", "b", "/x%2")}, `'%' at offset 2 does not start a %XX escape`},
		{"a bad method", []CallSpec{{Name: "a", Backend: "b", Method: "GE T", Path: "/x"}}, `call "a": bad method "GE T"`},
		{"a negative timeout", []CallSpec{{Name: "a", Backend: "b", Path: "/x", Timeout: -time.Second}}, `call "a": negative timeout -1s`},
		{"an unknown parameter", []CallSpec{call("a", "b", "/x/{nope}")}, `call "a": unknown request parameter {nope} (parameters: id)`},
		{"a call named where a field is needed", []CallSpec{call("a", "b", "/x"), call("c", "b", "/y/{a}")}, `call "c": {a} names a call, not a request parameter`},
		{"an unknown call", []CallSpec{call("a", "b", "/x/{nope.id}")}, `call "a": {nope.id} refers to unknown call "nope"`},
		{"a call referring to itself", []CallSpec{call("a", "b", "/x/{a.id}")}, `call "a": dependency cycle a -> a`},
		{"a cycle of two", []CallSpec{call("a", "b", "/x/{b.id}"), call("b", "b", "/y/{a.id}")}, `call "a": dependency cycle a -> b -> a`},
		{"a cycle of three behind a healthy call, named from the first given", []CallSpec{
			call("ok", "b", "/ok"),
			call("x", "b", "/x/{ok.id}/{z.id}"),
			call("y", "b", "/y/{x.id}"),
			call("z", "b", "/z/{y.id}"),
		}, `call "x": dependency cycle x -> z -> y -> x`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("op", tc.calls, []string{"id"})
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), "compile plan op: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant compile plan op: ...%s...", err, tc.want)
			}
		})
	}
}

func TestCompileKeepsCallerSlice(t *testing.T) {
	specs := []CallSpec{{Name: "a", Backend: "b", Path: "/x", Method: "post"}}
	p := mustCompile(t, "op", specs, nil)
	if specs[0].Method != "post" || p.Calls()[0].Spec.Method != "POST" {
		t.Errorf("caller's spec %q, plan's %q: want the caller's untouched and the plan's upper-cased", specs[0].Method, p.Calls()[0].Spec.Method)
	}
}
