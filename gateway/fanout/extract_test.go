package fanout

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	fields := []string{"id", "layer_id"}
	for _, tc := range []struct {
		name string
		body string
		want []string  // text per field, when extracted
		why  []missing // reason per field, when not
	}{
		{"string ids", `{"id":"42","layer_id":"7"}`, []string{"42", "7"}, nil},
		{"numbers give their decimal text", `{"id":42,"layer_id":-7.5}`, []string{"42", "-7.5"}, nil},
		{"exponents are written out", `{"id":1e3,"layer_id":2.5E-1}`, []string{"1000", "0.25"}, nil},
		{"big integers keep every digit", `{"id":123456789012345678901234567890,"layer_id":0}`, []string{"123456789012345678901234567890", "0"}, nil},
		{"white space everywhere", " \n{ \"id\" :\t\"42\" , \"layer_id\" : 7 }\r\n", []string{"42", "7"}, nil},
		{"other fields, nested values and arrays are skipped", `{"a":{"id":"no","b":[1,{"layer_id":"no"}]},"id":"1","c":[true,false,null],"layer_id":"2"}`, []string{"1", "2"}, nil},
		{"escapes are decoded, then escaped into the path", `{"id":"a\/b\"c\u00e9","layer_id":"\ud83d\ude00"}`, []string{`a/b"cé`, "😀"}, nil},
		{"UTF-8 passes through", `{"id":"é","layer_id":"日本"}`, []string{"é", "日本"}, nil},
		{"an escaped key matches", `{"\u0069d":"1","layer_id":"2"}`, []string{"1", "2"}, nil},
		{"a key read given twice has no value: parsers disagree on which counts", `{"id":"1","id":"2","layer_id":"3"}`, nil, []missing{duplicate, present}},
		{"an escaped duplicate is a duplicate", `{"id":"1","\u0069d":"1","layer_id":"3"}`, nil, []missing{duplicate, present}},
		{"a key not read may be given twice", `{"id":"1","x":1,"x":2,"layer_id":"3"}`, []string{"1", "3"}, nil},
		{"keys match case-sensitively", `{"ID":"1","layer_id":"2"}`, nil, []missing{absent, present}},
		{"an empty object", `{}`, nil, []missing{absent, absent}},
		{"objects, arrays, booleans and null are not ids", `{"id":{"x":1},"layer_id":null}`, nil, []missing{notScalar, notScalar}},
		{"an array body", `[{"id":"1"}]`, nil, []missing{notObject, notObject}},
		{"a string body", `"42"`, nil, []missing{notObject, notObject}},
		{"an empty body", ``, nil, []missing{malformed, malformed}},
		{"HTML from a proxy", `<html>502</html>`, nil, []missing{malformed, malformed}},
		{"a truncated body loses even the fields already seen", `{"id":"1","layer_id":"2","name":"x`, nil, []missing{malformed, malformed}},
		{"trailing garbage", `{"id":"1","layer_id":"2"}x`, nil, []missing{malformed, malformed}},
		{"a trailing comma", `{"id":"1","layer_id":"2",}`, nil, []missing{malformed, malformed}},
		{"a leading zero", `{"id":01,"layer_id":"2"}`, nil, []missing{malformed, malformed}},
		{"a control character in a string", "{\"id\":\"a\nb\",\"layer_id\":\"2\"}", nil, []missing{malformed, malformed}},
		{"a bad escape", `{"id":"\x","layer_id":"2"}`, nil, []missing{malformed, malformed}},
		{"a number too large to write out", `{"id":1e999,"layer_id":"2"}`, nil, []missing{outOfRange, present}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := make([]value, len(fields))
			extract([]byte(tc.body), fields, vals)
			for k, f := range fields {
				switch {
				case tc.want != nil:
					if vals[k].why != present || string(vals[k].text) != tc.want[k] {
						t.Errorf("%s: got %q (%v), want %q", f, vals[k].text, vals[k].why, tc.want[k])
					}
				case vals[k].why != tc.why[k]:
					t.Errorf("%s: got %q (%v), want %v", f, vals[k].text, vals[k].why, tc.why[k])
				}
			}
		})
	}
}

func TestExtractDeepNesting(t *testing.T) {
	deep := `{"id":"1","x":` + string(bytes.Repeat([]byte("["), MaxDepth+2)) + string(bytes.Repeat([]byte("]"), MaxDepth+2)) + `}`
	vals := make([]value, 1)
	extract([]byte(deep), []string{"id"}, vals)
	if vals[0].why != malformed {
		t.Errorf("nesting beyond %d: got %v, want %v", MaxDepth, vals[0].why, malformed)
	}
}

// FuzzExtract checks the scanner against encoding/json: on a valid object it
// finds the same scalar fields with the same text, and it rejects what
// encoding/json finds invalid.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"id":"42","layer_id":7,"project_id":"3"}`))
	f.Add([]byte(`{"id":"a\u00e9\n","layer_id":{"x":[1,2]},"project_id":1.5e2}`))
	f.Add([]byte(`[1,"id"]`))
	f.Add([]byte(`{"id":"1",}`))
	// The hostile bodies, cut down so that the fuzzer can mutate them.
	for _, b := range hostileBodies {
		f.Add(b[:min(len(b), 8<<10)])
	}
	fields := []string{"id", "layer_id", "project_id"}
	f.Fuzz(func(t *testing.T, body []byte) {
		vals := make([]value, len(fields))
		extract(body, fields, vals)
		var top any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		errJSON := dec.Decode(&top)
		depth, counts := shape(body)
		if !json.Valid(body) || errJSON != nil || depth > MaxDepth+1 {
			if CheckJSON(body) == nil {
				t.Fatalf("CheckJSON accepts %q, invalid or over %d deep", body, MaxDepth)
			}
			for k := range fields {
				if vals[k].why != malformed {
					t.Fatalf("invalid JSON %q: field %s is %v, want malformed", body, fields[k], vals[k].why)
				}
			}
			return
		}
		if err := CheckJSON(body); err != nil {
			t.Fatalf("%q: CheckJSON refuses valid JSON %d deep: %v", body, depth, err)
		}
		obj, isObject := top.(map[string]any)
		for k, f := range fields {
			if counts[f] > 1 {
				if vals[k].why != duplicate {
					t.Fatalf("%q: %s given %d times is %v, want duplicate", body, f, counts[f], vals[k].why)
				}
				continue
			}
			v, ok := obj[f]
			var want string
			switch v := v.(type) {
			case string:
				want = v
				if vals[k].number {
					t.Fatalf("%q: string %s is marked a number", body, f)
				}
			case json.Number:
				if vals[k].why == present && !vals[k].number {
					t.Fatalf("%q: number %s is not marked a number", body, f)
				}
				if fl, err := strconv.ParseFloat(string(v), 64); err == nil && bytes.ContainsAny([]byte(v), "eE") {
					want = strconv.FormatFloat(fl, 'f', -1, 64)
				} else if err != nil && bytes.ContainsAny([]byte(v), "eE") {
					if vals[k].why != outOfRange {
						t.Fatalf("%q: %s is %v, want out of range", body, f, vals[k].why)
					}
					continue
				} else {
					want = string(v)
				}
			default:
				var why missing
				switch {
				case !isObject:
					why = notObject
				case !ok:
					why = absent
				default:
					why = notScalar
				}
				if vals[k].why != why {
					t.Fatalf("%q: %s is %v, want %v", body, f, vals[k].why, why)
				}
				continue
			}
			if vals[k].why != present || string(vals[k].text) != want {
				t.Fatalf("%q: %s is %q (%v), want %q", body, f, vals[k].text, vals[k].why, want)
			}
		}
	})
}

// hostileBodies are the bodies a hostile backend sent the gateway: four
// megabytes of nested arrays (which overflowed the stack of an unbounded
// recursive validator), a million levels, 20,000 unclosed arrays (which
// cost seconds of CPU in a validator that quoted its error at every level),
// and deep objects.
var hostileBodies = [][]byte{
	[]byte(strings.Repeat("[", 2<<20) + strings.Repeat("]", 2<<20)),
	[]byte(strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000)),
	[]byte(strings.Repeat("[", 20_000)),
	[]byte(strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)),
	[]byte(`{"id":"1","x":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`),
}

// TestHostileBodies: every hostile body, whole, is refused as malformed by
// extract and CheckJSON, and a valid body nested just within MaxDepth is
// not. (The gateway's tests bound the CPU the refusal costs.)
func TestHostileBodies(t *testing.T) {
	for i, b := range hostileBodies[:len(hostileBodies)-1] {
		vals := make([]value, 1)
		extract(b, []string{"id"}, vals)
		if vals[0].why != malformed {
			t.Errorf("hostile body %d: id is %v, want malformed", i, vals[0].why)
		}
		if CheckJSON(b) == nil {
			t.Errorf("hostile body %d: CheckJSON accepts it", i)
		}
	}
	deepest := hostileBodies[len(hostileBodies)-1]
	if err := CheckJSON(deepest); err != nil {
		t.Errorf("a body %d deep: %v", MaxDepth+1, err)
	}
}

// shape returns the nesting depth of the valid JSON body (1 for a flat
// object or array) and how many times its top-level object gives each key.
func shape(body []byte) (depth int, counts map[string]int) {
	counts = map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(body))
	level, wantKey := 0, false
	var stack []bool // per open container: is it an object
	for {
		tok, err := dec.Token()
		if err != nil {
			return depth, counts
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, d == '{')
				level++
				depth = max(depth, level)
				wantKey = d == '{'
			default:
				stack = stack[:len(stack)-1]
				level--
				wantKey = len(stack) > 0 && stack[len(stack)-1]
			}
			continue
		}
		if wantKey {
			if level == 1 {
				counts[tok.(string)]++
			}
			wantKey = false
			continue
		}
		wantKey = len(stack) > 0 && stack[len(stack)-1]
	}
}
