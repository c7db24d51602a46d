package spec

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestQuickCheckAgrees checks that the quick check changes no answer: every
// request of the table gets the same problems from Validate with the quick
// check as from kin-openapi alone, on every operation of the document that
// has one, the results page among them.
func TestQuickCheckAgrees(t *testing.T) {
	s := load(t)
	results := s.Operation("getExperimentResults")
	if results == nil || results.validator.quick == nil {
		t.Fatal("the results page has no quick check")
	}
	ids := []string{
		"42",                      // valid
		"0",                       // the pattern refuses a leading zero
		"abc",                     // not digits
		"",                        // empty
		"1234567890123456789",     // one digit too many
		"4\u00e92",                // a character outside the pattern
		"42\n",                    // a trailing newline
		string([]byte{0xff, '1'}), // not UTF-8
	}
	headers := []string{
		"",                             // absent
		`"5d41402abc4b2a76"`,           // an entity tag
		"*",                            // any
		"a\x01b",                       // a control character
		"W/\"x\", \"y\"\t",             // a list, a tab
		string([]byte{'"', 0xfe, '"'}), // not UTF-8
	}
	checked := 0
	for _, o := range s.Operations() {
		name := o.ID
		if o.validator.quick == nil {
			continue
		}
		quick := o.validator.quick
		for _, id := range ids {
			for _, h := range headers {
				in := func() *Input {
					in := &Input{PathParams: map[string]string{}, Query: url.Values{}, Header: http.Header{}}
					for _, p := range o.PathNames() {
						in.PathParams[p] = id
					}
					for _, q := range o.QueryNames() {
						in.Query.Set(q, id)
					}
					for _, hn := range o.HeaderNames() {
						if h != "" {
							in.Header.Set(hn, h)
						}
					}
					return in
				}
				got := o.Validate(context.Background(), in())
				o.validator.quick = nil // kin-openapi alone
				want := o.Validate(context.Background(), in())
				o.validator.quick = quick
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, id %q, header %q: quick check gives %v, kin-openapi %v", name, id, h, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d requests compared", checked)
}

// TestQuickCheckDeclines checks the operations the quick check leaves to
// kin-openapi: a body, or a parameter whose schema says more than a
// string's length and pattern.
func TestQuickCheckDeclines(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
	}{
		// A format is a constraint the quick check does not know.
		{"a format", "pattern: '^[1-9][0-9]{0,17}$'", "pattern: '^[1-9][0-9]{0,17}$'\n      format: uuid"},
		// So is nullable, which admits null.
		{"nullable", "pattern: '^[1-9][0-9]{0,17}$'", "pattern: '^[1-9][0-9]{0,17}$'\n      nullable: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := string(document(t))
			if !strings.Contains(data, tc.old) {
				t.Fatalf("the document has no %q", tc.old)
			}
			s, err := Load([]byte(strings.Replace(data, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if q := s.Operation("getExperimentResults").validator.quick; q != nil {
				t.Errorf("quick check %v, want none", q)
			}
		})
	}
}

// TestValidateAllocations guards what validating a valid results request
// costs: nothing, where kin-openapi allocates for every parameter.
func TestValidateAllocations(t *testing.T) {
	o := load(t).Operation("getExperimentResults")
	in := &Input{PathParams: map[string]string{"experiment_id": "42"}, Header: http.Header{"If-None-Match": {`"abc"`}}}
	n := testing.AllocsPerRun(100, func() {
		if bad := o.Validate(context.Background(), in); bad != nil {
			t.Fatal(bad)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per valid request, want 0", n)
	}
}

// BenchmarkValidate measures the validation of a valid results request.
func BenchmarkValidate(b *testing.B) {
	o := load(b).Operation("getExperimentResults")
	in := &Input{PathParams: map[string]string{"experiment_id": "42"}, Header: http.Header{"If-None-Match": {`"abc"`}}}
	b.ReportAllocs()
	for b.Loop() {
		if bad := o.Validate(context.Background(), in); bad != nil {
			b.Fatal(bad)
		}
	}
}
