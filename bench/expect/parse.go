package expect

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokNum
	tokName
	tokOp  // + - * /
	tokCmp // < <= > >= == !=
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the source
	num  float64
	name Name
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokNum:
		return "number " + strconv.Quote(t.text)
	case tokName:
		return "name " + strconv.Quote(t.text)
	default:
		return strconv.Quote(t.text)
	}
}

type parser struct {
	src  string
	toks []token
	i    int
}

// ParseError is the error Parse returns: the source, the column (1-based, in
// characters) and the reason.
type ParseError struct {
	Source string
	Column int
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("expectation %q: column %d: %s", e.Source, e.Column, e.Reason)
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return &ParseError{Source: p.src, Column: utf8.RuneCountInString(p.src[:pos]) + 1, Reason: fmt.Sprintf(format, args...)}
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return p.errAt(t.pos, format, args...)
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

// maxLen bounds the source so a hostile file cannot make the parser recurse
// deeply.
const maxLen = 1000

// maxDepth bounds nesting of parentheses and unary minus.
const maxDepth = 50

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// units converts a number's suffix to the factor that gives milliseconds (or
// a fraction for '%').
var units = map[string]float64{
	"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1000, "%": 0.01,
}

func (p *parser) lex() error {
	s := p.src
	if len(s) > maxLen {
		return p.errAt(0, "longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return p.errAt(0, "not valid UTF-8")
	}
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			p.toks = append(p.toks, token{kind: tokLParen, text: "(", pos: i})
			i++
		case c == ')':
			p.toks = append(p.toks, token{kind: tokRParen, text: ")", pos: i})
			i++
		case c == '+' || c == '-' || c == '*' || c == '/':
			p.toks = append(p.toks, token{kind: tokOp, text: string(c), pos: i})
			i++
		case c == '<' || c == '>' || c == '=' || c == '!':
			op := string(c)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			if op == "=" || op == "!" {
				return p.errAt(i, "%q is not an operator (did you mean %q?)", op, op+"=")
			}
			p.toks = append(p.toks, token{kind: tokCmp, text: op, pos: i})
			i += len(op)
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			t, n, err := p.lexNumber(i)
			if err != nil {
				return err
			}
			p.toks = append(p.toks, t)
			i += n
		case isWordByte(c):
			t, n, err := p.lexName(i)
			if err != nil {
				return err
			}
			p.toks = append(p.toks, t)
			i += n
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return p.errAt(i, "unexpected character %q", r)
		}
	}
	p.toks = append(p.toks, token{kind: tokEOF, pos: len(s)})
	return nil
}

func (p *parser) lexNumber(start int) (token, int, error) {
	s := p.src
	i := start
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			i = j
		}
	}
	text := s[start:i]
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return token{}, 0, p.errAt(start, "bad number %q", text)
	}
	// A unit follows the digits directly: 250ms, 1.5s, 99.9%.
	u := i
	for u < len(s) && (isWordByte(s[u]) || s[u] == '%' || s[u] >= 0x80) {
		u++
	}
	if unit := s[i:u]; unit != "" {
		f, ok := units[unit]
		if !ok {
			return token{}, 0, p.errAt(i, "unknown unit %q (want ns, us, ms, s or %%)", unit)
		}
		v *= f
		text = s[start:u]
	}
	if math.IsInf(v, 0) {
		return token{}, 0, p.errAt(start, "number %q out of range", text)
	}
	return token{kind: tokNum, text: text, pos: start, num: v}, u - start, nil
}

func (p *parser) lexName(start int) (token, int, error) {
	s := p.src
	i := start
	var n Name
	word := func() (string, error) {
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j == i || isDigit(s[i]) {
			return "", p.errAt(i, "expected a word (a letter or '_', then letters, digits or '_')")
		}
		w := s[i:j]
		i = j
		return w, nil
	}
	w, err := word()
	if err != nil {
		return token{}, 0, err
	}
	n.Parts = append(n.Parts, w)
	if i < len(s) && s[i] == '@' {
		i++
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
			j++
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
		r, err := strconv.ParseFloat(s[i:j], 64)
		if err != nil || r <= 0 {
			return token{}, 0, p.errAt(i, "expected a positive rate after '@'")
		}
		n.Rate, n.HasRate = r, true
		i = j
	}
	for i < len(s) && s[i] == '.' {
		i++
		w, err := word()
		if err != nil {
			return token{}, 0, err
		}
		n.Parts = append(n.Parts, w)
	}
	return token{kind: tokName, text: s[start:i], pos: start, name: n}, i - start, nil
}

// sum := product (('+'|'-') product)*
func (p *parser) sum() (node, error) { return p.sumDepth(0) }

func (p *parser) sumDepth(depth int) (node, error) { return p.chain(depth, "+-", p.product) }

// product := unary (('*'|'/') unary)*
func (p *parser) product(depth int) (node, error) { return p.chain(depth, "*/", p.unary) }

// chain parses operands joined by any of the one-character operators in
// ops, grouping to the left: both arithmetic levels read this way.
func (p *parser) chain(depth int, ops string, operand func(depth int) (node, error)) (node, error) {
	l, err := operand(depth)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokOp || len(t.text) != 1 || !strings.Contains(ops, t.text) {
			return l, nil
		}
		p.next()
		r, err := operand(depth)
		if err != nil {
			return nil, err
		}
		l = binNode{op: t.text[0], l: l, r: r}
	}
}

// unary := '-' unary | primary
func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errorf(p.peek(), "nested more than %d deep", maxDepth)
	}
	t := p.peek()
	if t.kind == tokOp && t.text == "-" {
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return negNode{x: x}, nil
	}
	return p.primary(depth)
}

// primary := number | name | '(' sum ')'
func (p *parser) primary(depth int) (node, error) {
	t := p.next()
	switch t.kind {
	case tokNum:
		return numNode{v: t.num}, nil
	case tokName:
		return nameNode{n: t.name}, nil
	case tokLParen:
		x, err := p.sumDepth(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errorf(c, "expected \")\", found %s", c.describe())
		}
		return x, nil
	}
	return nil, p.errorf(t, "expected a number, a name or \"(\", found %s", t.describe())
}
