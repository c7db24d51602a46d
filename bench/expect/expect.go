// Package expect parses and evaluates the assertions of a scenario's
// `expect:` section, such as
//
//	concurrent.p50 <= 1.05 * critical_path
//	blocking.throughput < 0.2 * concurrent.throughput
//	concurrent@500.p99 <= 250ms
//	concurrent.success >= 99.9%
//
// An expectation is one comparison (<, <=, >, >=, ==, !=) between two
// arithmetic expressions (+, -, *, /, unary minus, parentheses) over numbers
// and names. A number may carry a duration unit (ns, us, µs, ms, s), which
// converts it to milliseconds, the unit of every latency figure, or a percent
// sign, which divides it by 100 (success is a fraction). A name is a dotted
// path of words (letters, digits and '_') whose first word may
// carry "@RATE" to pin the offered rate. What names mean is up to the caller,
// which resolves them during Eval.
//
// It is a small recursive-descent parser, not an evaluator of arbitrary code.
package expect

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Name is a reference to a figure: "concurrent@500.p50" has Parts
// ["concurrent", "p50"], Rate 500 and HasRate true.
type Name struct {
	Parts   []string
	Rate    float64
	HasRate bool
}

// String formats the name as it is written.
func (n Name) String() string {
	if !n.HasRate || len(n.Parts) == 0 {
		return strings.Join(n.Parts, ".")
	}
	head := n.Parts[0] + "@" + strconv.FormatFloat(n.Rate, 'f', -1, 64)
	return strings.Join(append([]string{head}, n.Parts[1:]...), ".")
}

// A Resolver returns the value of a name, or an error if the name means
// nothing or has no value in the current context.
type Resolver func(Name) (float64, error)

// Expectation is a parsed assertion. It is immutable and safe for concurrent
// use.
type Expectation struct {
	// Source is the text it was parsed from.
	Source string
	op     string
	left   node
	right  node
}

// Outcome is the result of evaluating an Expectation.
type Outcome struct {
	Left, Right float64 // the values of both sides
	Holds       bool
}

// Parse parses one expectation. Errors give the column and the reason.
func Parse(src string) (*Expectation, error) {
	p := &parser{src: src}
	if err := p.lex(); err != nil {
		return nil, err
	}
	left, err := p.sum()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tokCmp {
		return nil, p.errorf(t, "expected a comparison (<, <=, >, >=, ==, !=)")
	}
	p.next()
	right, err := p.sum()
	if err != nil {
		return nil, err
	}
	if t2 := p.peek(); t2.kind != tokEOF {
		return nil, p.errorf(t2, "unexpected %s after the comparison", t2.describe())
	}
	return &Expectation{Source: src, op: t.text, left: left, right: right}, nil
}

// Names returns every name the expectation refers to, in order of
// appearance, duplicates included.
func (e *Expectation) Names() []Name {
	var out []Name
	e.left.names(&out)
	e.right.names(&out)
	return out
}

// Eval evaluates both sides with r and compares them. A comparison with a NaN
// side does not hold.
func (e *Expectation) Eval(r Resolver) (Outcome, error) {
	l, err := e.left.eval(r)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", e.Source, err)
	}
	rv, err := e.right.eval(r)
	if err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", e.Source, err)
	}
	var ok bool
	switch e.op {
	case "<":
		ok = l < rv
	case "<=":
		ok = l <= rv
	case ">":
		ok = l > rv
	case ">=":
		ok = l >= rv
	case "==":
		ok = l == rv
	case "!=":
		ok = l != rv
	}
	return Outcome{Left: l, Right: rv, Holds: ok}, nil
}

// String formats the expectation canonically, with the parentheses it
// needs, so that parsing the result gives the same String.
func (e *Expectation) String() string {
	return e.left.String() + " " + e.op + " " + e.right.String()
}

// Op returns the comparison operator.
func (e *Expectation) Op() string { return e.op }

// LeftString and RightString format the two sides canonically.
func (e *Expectation) LeftString() string { return e.left.String() }

// RightString formats the right side canonically.
func (e *Expectation) RightString() string { return e.right.String() }

type node interface {
	eval(Resolver) (float64, error)
	names(*[]Name)
	String() string
}

type numNode struct{ v float64 }

func (n numNode) eval(Resolver) (float64, error) { return n.v, nil }
func (n numNode) names(*[]Name)                  {}
func (n numNode) String() string                 { return strconv.FormatFloat(n.v, 'g', -1, 64) }

type nameNode struct{ n Name }

func (n nameNode) eval(r Resolver) (float64, error) {
	v, err := r(n.n)
	if err != nil {
		return 0, err
	}
	return v, nil
}
func (n nameNode) names(out *[]Name) { *out = append(*out, n.n) }
func (n nameNode) String() string    { return n.n.String() }

type negNode struct{ x node }

func (n negNode) eval(r Resolver) (float64, error) {
	v, err := n.x.eval(r)
	return -v, err
}
func (n negNode) names(out *[]Name) { n.x.names(out) }
func (n negNode) String() string {
	if _, bin := n.x.(binNode); bin {
		return "-(" + n.x.String() + ")"
	}
	return "-" + n.x.String()
}

type binNode struct {
	op   byte
	l, r node
}

func (n binNode) eval(r Resolver) (float64, error) {
	a, err := n.l.eval(r)
	if err != nil {
		return 0, err
	}
	b, err := n.r.eval(r)
	if err != nil {
		return 0, err
	}
	switch n.op {
	case '+':
		return a + b, nil
	case '-':
		return a - b, nil
	case '*':
		return a * b, nil
	default:
		if b == 0 {
			return math.NaN(), nil
		}
		return a / b, nil
	}
}
func (n binNode) names(out *[]Name) { n.l.names(out); n.r.names(out) }

// String writes the fewest parentheses that keep the tree: a left operand
// of lower precedence, a right operand of lower or equal precedence (the
// operators are left-associative).
func (n binNode) String() string {
	l, r := n.l.String(), n.r.String()
	if lb, ok := n.l.(binNode); ok && prec(lb.op) < prec(n.op) {
		l = "(" + l + ")"
	}
	if rb, ok := n.r.(binNode); ok && prec(rb.op) <= prec(n.op) {
		r = "(" + r + ")"
	}
	return l + " " + string(n.op) + " " + r
}

func prec(op byte) int {
	if op == '*' || op == '/' {
		return 2
	}
	return 1
}
