package strictyaml

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// node parses src, which must hold one YAML document.
func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	n, err := (&Decoder{}).Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFields(t *testing.T) {
	d := &Decoder{File: "f.yaml"}
	n := node(t, "a: 1\nzz: 2\nb: [x]\na: 3\n")
	f, err := d.Fields(n, "top", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if f["a"] == nil || f["a"].Value != "1" || f["b"] == nil || len(f) != 2 {
		t.Errorf("fields = %v, want the first a and b", f)
	}
	want := "f.yaml:2: top.zz: unknown field (known: a, b)\n" +
		"f.yaml:4: top.a: appears twice"
	if err := d.Err(); err == nil || err.Error() != want {
		t.Errorf("recorded:\n%v\nwant:\n%s", err, want)
	}

	// A value that is not a mapping is returned, for the caller to decide;
	// a null one is an empty mapping.
	d = &Decoder{File: "f.yaml"}
	if _, err := d.Fields(node(t, "[1]\n"), "top", "a"); err == nil || err.Error() != "f.yaml:1: top: want a mapping, found a list" {
		t.Errorf("list: err = %v", err)
	}
	if f, err := d.Fields(node(t, "~\n"), "top", "a"); err != nil || len(f) != 0 {
		t.Errorf("null: fields %v, err %v", f, err)
	}
	if d.Count() != 0 {
		t.Errorf("recorded %v, want nothing", d.Err())
	}
}

func TestReaders(t *testing.T) {
	tests := []struct {
		name string
		read func(d *Decoder, n *yaml.Node) error
		src  string
		want string // the reason, "" when the value is read
	}{
		// Each row proves what one reader accepts or refuses, and says so
		// in the one wording "want X, found Y" or "must ..., found Y".
		{"string", str, "abc", ""},
		{"number as string", str, "12", ""},
		{"null is no string", str, "~", "want a string, found nothing"},
		{"list is no string", str, "[a]", "want a string, found a list"},
		{"float", float, "0.25", ""},
		{"quoted number is a string", float, `"0.25"`, `want a number, found "0.25"`},
		{"nan", float, ".nan", `want a number, found ".nan"`},
		{"int", integer, "7", ""},
		{"fraction is no integer", integer, "1.5", `want an integer, found "1.5"`},
		{"below the minimum", integer, "-1", "must be at least 0, found -1"},
		{"duration", duration, "1.5s", ""},
		{"zero duration", duration, "0", ""},
		{"duration without unit", duration, "20", `want a duration such as 500ms or 2s, found "20"`},
		{"negative duration", duration, "-1ms", "must not be negative, found -1ms"},
		{"mapping is no duration", duration, "{a: 1}", "want a duration such as 500ms or 2s, found a mapping"},
		{"list", list, "[1, 2]", ""},
		{"scalar is no list", list, "1", `want a list, found "1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{File: "f.yaml"}
			err := tt.read(d, node(t, tt.src))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if want := "f.yaml:1: x: " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %s", err, want)
			}
		})
	}
}

// reader adapts one of the Decoder's readers to the table of TestReaders.
func reader[T any](read func(*Decoder, *yaml.Node, string) (T, error)) func(*Decoder, *yaml.Node) error {
	return func(d *Decoder, n *yaml.Node) error {
		_, err := read(d, n, "x")
		return err
	}
}

var (
	str      = reader((*Decoder).Str)
	float    = reader((*Decoder).Float)
	duration = reader((*Decoder).Duration)
	list     = reader((*Decoder).List)
	integer  = reader(func(d *Decoder, n *yaml.Node, path string) (int, error) { return d.Int(n, path, 0) })
)

func TestErrInLineOrder(t *testing.T) {
	d := &Decoder{File: "f.yaml"}
	if !d.OK(nil) || d.Err() != nil {
		t.Fatal("OK(nil) recorded something")
	}
	d.OK(&Error{Line: 5, Path: "b", Reason: "second on 5"})
	d.OK(Errors{{Line: 2, Path: "a", Reason: "on 2"}, {Line: 5, Path: "c", Reason: "third on 5"}})
	d.OK(errors.New("no place"))
	want := "f.yaml: no place\n" +
		"f.yaml:2: a: on 2\n" +
		"f.yaml:5: b: second on 5\n" +
		"f.yaml:5: c: third on 5"
	err := d.Err()
	if err == nil || err.Error() != want {
		t.Fatalf("err:\n%v\nwant:\n%s", err, want)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Reason != "no place" {
		t.Errorf("errors.As found %v, want the first problem", fe)
	}
}

func TestParse(t *testing.T) {
	d := &Decoder{File: "f.yaml"}
	if n, err := d.Parse(nil); n != nil || err != nil {
		t.Errorf("empty: %v, %v; want nothing", n, err)
	}
	if _, err := d.Parse([]byte("a: 1\n---\nb: 2\n")); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:2: more than one YAML document") {
		t.Errorf("two documents: err = %v", err)
	}
	// The parser's own "yaml: line N:" becomes the usual "file:line:".
	if _, err := d.Parse([]byte("a: 1\nb: [\n")); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:2: ") || strings.Contains(err.Error(), "yaml: ") {
		t.Errorf("syntax: err = %v", err)
	}
	n := node(t, "base: &b {x: 1}\nother: *b\n")
	f, _ := d.Fields(n, "", "base", "other")
	if f["other"].Kind != yaml.MappingNode {
		t.Errorf("alias not followed: %v", f["other"].Kind)
	}
}

func TestParseJSON(t *testing.T) {
	n, err := ParseJSON([]byte(`{"b": 1, "a": 1.5, "c": null, "d": ["x", true]}`))
	if err != nil {
		t.Fatal(err)
	}
	var keys, tags []string
	for i := 0; i < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
		tags = append(tags, n.Content[i+1].Tag)
	}
	if got := strings.Join(keys, ","); got != "b,a,c,d" {
		t.Errorf("keys %s, want them in the body's order", got)
	}
	if got := strings.Join(tags, ","); got != "!!int,!!float,!!null,!!seq" {
		t.Errorf("tags %s", got)
	}
	for _, bad := range []string{`{"a":`, `{} {}`, ``} {
		if _, err := ParseJSON([]byte(bad)); err == nil || !strings.Contains(err.Error(), "invalid JSON") {
			t.Errorf("ParseJSON(%q): err = %v", bad, err)
		}
	}
}
