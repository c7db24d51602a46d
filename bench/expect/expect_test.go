package expect

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// figures is a fake resolver: the figures of one run.
func figures(vals map[string]float64) Resolver {
	return func(n Name) (float64, error) {
		v, ok := vals[n.String()]
		if !ok {
			return 0, fmt.Errorf("unknown name %s", n)
		}
		return v, nil
	}
}

func TestEval(t *testing.T) {
	r := figures(map[string]float64{
		"concurrent.p50":        41,
		"critical_path":         40,
		"blocking.throughput":   11,
		"concurrent.throughput": 500,
		"concurrent.success":    0.9995,
		"concurrent@500.p99":    43,
		"sum":                   85,
	})
	tests := []struct {
		src   string
		holds bool
		left  float64
		right float64
	}{
		// The talk's headline: concurrent within 5 % of the critical path.
		{"concurrent.p50 <= 1.05 * critical_path", true, 41, 42},
		// Blocking collapses throughput.
		{"blocking.throughput < 0.2 * concurrent.throughput", true, 11, 100},
		// Units convert to milliseconds; a pinned rate is part of the name.
		{"concurrent@500.p99 <= 0.04s", false, 43, 40},
		// Percent is a fraction.
		{"concurrent.success >= 99.9%", true, 0.9995, 0.999},
		// Precedence: * before +, parentheses, unary minus.
		{"sum - critical_path * 2 == 5", true, 5, 5},
		{"(sum - critical_path) * 2 == 90", true, 90, 90},
		{"-critical_path + 100 > 59", true, 60, 59},
		{"2 - -2 == 4", true, 4, 4},
		// Left-associative subtraction and division.
		{"10 - 4 - 3 == 3", true, 3, 3},
		{"100 / 10 / 2 == 5", true, 5, 5},
		{"1 != 1", false, 1, 1},
		{"1500us == 1.5ms", true, 1.5, 1.5},
		{"1e3 == 1s", true, 1000, 1000},
	}
	for _, tc := range tests {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		out, err := e.Eval(r)
		if err != nil {
			t.Errorf("Eval(%q): %v", tc.src, err)
			continue
		}
		if out.Holds != tc.holds || math.Abs(out.Left-tc.left) > 1e-9 || math.Abs(out.Right-tc.right) > 1e-9 {
			t.Errorf("%q: got %+v, want holds=%v left=%v right=%v", tc.src, out, tc.holds, tc.left, tc.right)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src    string
		column int
		reason string
	}{
		// No comparison: an expectation must assert something.
		{"concurrent.p50", 15, "expected a comparison"},
		// Two comparisons are not chained.
		{"1 < 2 < 3", 7, "unexpected"},
		// A single '=' is a typo for '=='.
		{"a = b", 3, "did you mean"},
		{"a ! b", 3, "did you mean"},
		// Missing operand.
		{"a <= ", 6, "expected a number"},
		{"a <= * 2", 6, "expected a number"},
		// Unbalanced parentheses.
		{"(a <= b", 4, "expected \")\""},
		{"a <= b)", 7, "unexpected"},
		// Unknown unit.
		{"a <= 5min", 7, "unknown unit"},
		// Foreign characters, even after valid text.
		{"a <= b; rm -rf", 7, "unexpected character"},
		{"a.p50 <= é", 10, "unexpected character"},
		// Names: an empty word, a bad rate.
		{"a..p50 <= 1", 3, "expected a word"},
		{"a@x.p50 <= 1", 3, "positive rate"},
		{"a@0.p50 <= 1", 3, "positive rate"},
		// Out of range.
		{"a < 1e400", 5, "bad number"},
		{"a < 1e307s", 5, "out of range"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %v, want a *ParseError", tc.src, err)
			continue
		}
		if pe.Column != tc.column || !strings.Contains(pe.Reason, tc.reason) {
			t.Errorf("Parse(%q): column %d %q, want column %d containing %q", tc.src, pe.Column, pe.Reason, tc.column, tc.reason)
		}
	}
}

func TestDeepNestingIsRejected(t *testing.T) {
	src := strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200) + " < 2"
	if _, err := Parse(src); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("Parse of 200 nested parentheses: %v, want a nesting error", err)
	}
}

func TestString(t *testing.T) {
	for src, want := range map[string]string{
		"a - (b - c) < (a - b) - c":            "a - (b - c) < a - b - c",
		"a * (b + c) >= a * b + c":             "a * (b + c) >= a * b + c",
		"--a / (b * c) == -(a + b)":            "--a / (b * c) == -(a + b)",
		"concurrent.p50 <= 1.05*critical_path": "concurrent.p50 <= 1.05 * critical_path",
		"x@500.p99 > 250ms":                    "x@500.p99 > 250",
	} {
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.String(); got != want {
			t.Errorf("String of %q: %q, want %q", src, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	e, err := Parse("blocking.throughput < 0.2 * concurrent@500.throughput + sum.p99")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range e.Names() {
		got = append(got, n.String())
	}
	want := "blocking.throughput concurrent@500.throughput sum.p99"
	if strings.Join(got, " ") != want {
		t.Fatalf("Names: %v, want %s", got, want)
	}
	if n := e.Names()[1]; !n.HasRate || n.Rate != 500 || n.Parts[0] != "concurrent" {
		t.Fatalf("pinned name: %+v", n)
	}
}

func TestEvalErrorNamesTheExpectation(t *testing.T) {
	e, err := Parse("nosuch.p50 < 1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Eval(figures(nil))
	if err == nil || !strings.Contains(err.Error(), "nosuch.p50") {
		t.Fatalf("Eval with an unknown name: %v", err)
	}
}

func TestDivisionByZeroNeverHolds(t *testing.T) {
	e, err := Parse("1 / 0 < 5")
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Eval(figures(nil))
	if err != nil || out.Holds {
		t.Fatalf("1/0 < 5: %+v, %v; want not holding", out, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"concurrent.p50 <= 1.05 * critical_path",
		"blocking.throughput < 0.2 * concurrent.throughput",
		"concurrent@500.p99 <= 250ms",
		"concurrent.success >= 99.9%",
		"-(a - b) / 2 != 1e3us",
		"((a)) == .5",
		"a@1.5.b.c > 0",
		"a@500.x9 < a.b@2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Column < 1 {
				t.Fatalf("Parse(%q): %v is not a ParseError with a column", src, err)
			}
			return
		}
		// The canonical form must parse back to itself (unless spelling
		// numbers out made it longer than the parser accepts).
		canon := e.String()
		if len(canon) > maxLen {
			return
		}
		e2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its canonical form %q fails: %v", src, canon, err)
		}
		if e2.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, e2.String())
		}
		// Evaluation with any resolver never panics.
		_, _ = e.Eval(func(Name) (float64, error) { return 1, nil })
	})
}
