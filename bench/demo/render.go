package demo

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"time"
)

// palette colours terminal text. Its zero value writes plain text, which is
// what pipes, CI logs and the HTML page get.
type palette struct{ on bool }

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiPurple = "\x1b[35m"
	ansiCyan   = "\x1b[36m"
)

func (p palette) paint(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p palette) bold(s string) string   { return p.paint(ansiBold, s) }
func (p palette) dim(s string) string    { return p.paint(ansiDim, s) }
func (p palette) red(s string) string    { return p.paint(ansiRed, s) }
func (p palette) green(s string) string  { return p.paint(ansiGreen, s) }
func (p palette) yellow(s string) string { return p.paint(ansiYellow, s) }
func (p palette) cyan(s string) string   { return p.paint(ansiCyan, s) }

// laneColours cycles through distinct colours for the rows of a timeline.
var laneColours = []string{ansiCyan, ansiYellow, ansiGreen, ansiPurple, ansiBlue, ansiRed}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// stripANSI removes colour escapes, for the HTML page.
func stripANSI(s string) string { return ansiEscape.ReplaceAllString(s, "") }

// A lane is one row of a timeline: a labelled interval.
type lane struct {
	Label      string
	Start, End time.Duration
	// Note is printed after the bar, e.g. the duration.
	Note string
	// Colour is an ANSI colour code; empty picks one by row.
	Colour string
}

// timeline draws lanes on a shared time axis of span (0 picks the latest
// end) that is width cells wide, with a scale beneath:
//
//	slow  │██████████████████████████████      │ 301 ms
//	fast  │ ██████████                         │ 102 ms
//	      0         100       200       300 ms
func timeline(w io.Writer, p palette, indent string, lanes []lane, span time.Duration, width int) {
	if width < 10 {
		width = 10
	}
	labelW := 0
	for _, l := range lanes {
		labelW = max(labelW, len([]rune(l.Label)))
		span = max(span, l.End)
	}
	if span <= 0 {
		span = time.Millisecond
	}
	cell := func(d time.Duration) int {
		return int(math.Round(float64(d) / float64(span) * float64(width)))
	}
	for i, l := range lanes {
		from := min(cell(l.Start), width-1)
		to := min(max(cell(l.End), from+1), width) // a call of any length shows at least one cell
		colour := l.Colour
		if colour == "" {
			colour = laneColours[i%len(laneColours)]
		}
		bar := strings.Repeat(" ", from) + p.paint(colour, strings.Repeat("█", to-from)) + strings.Repeat(" ", width-to)
		fmt.Fprintf(w, "%s%-*s │%s│ %s\n", indent, labelW, l.Label, bar, l.Note)
	}
	fmt.Fprintf(w, "%s%s%s\n", indent, strings.Repeat(" ", labelW+1), p.dim(axis(span, width)))
}

// axis returns a scale line for a span drawn over width cells, with round
// tick labels in milliseconds: "0         100       200 ms".
func axis(span time.Duration, width int) string {
	ms := float64(span) / float64(time.Millisecond)
	step := niceStep(ms, width)
	line := []rune(strings.Repeat(" ", width+8))
	for v := 0.0; v <= ms+1e-9; v += step {
		pos := int(math.Round(v / ms * float64(width)))
		label := trimFloat(v)
		if pos+len(label) > len(line) {
			break
		}
		// Skip a label that would run into the previous one.
		if pos > 0 && line[pos-1] != ' ' {
			continue
		}
		copy(line[pos:], []rune(label))
	}
	s := strings.TrimRight(string(line), " ")
	return s + " ms"
}

// niceStep picks a tick step of 1, 2 or 5 times a power of ten that puts a
// label at most every eight cells.
func niceStep(ms float64, width int) float64 {
	ticks := max(width/8, 2)
	raw := ms / float64(ticks)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			return m * pow
		}
	}
	return 10 * pow
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

// fracBlocks are the eighths a bar may end with.
var fracBlocks = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// hbar returns a horizontal bar of value on a scale where full reaches
// width cells, to an eighth of a cell. Values past full are cut and end in
// an arrow so an off-scale bar says so.
func hbar(value, full float64, width int) string {
	if full <= 0 || value <= 0 || math.IsNaN(value) {
		return ""
	}
	if value > full {
		return strings.Repeat("█", width-1) + "▶"
	}
	eighths := int(math.Round(value / full * float64(width) * 8))
	if eighths == 0 {
		eighths = 1 // anything measured shows
	}
	return strings.Repeat("█", eighths/8) + fracBlocks[eighths%8]
}

// pad pads a string that may hold colour escapes to width visible cells.
func pad(s string, width int) string {
	n := len([]rune(stripANSI(s)))
	if n >= width {
		return s
	}
	return s + strings.Repeat(" ", width-n)
}

// ms formats a duration in milliseconds for people: "42.3 ms", "301 ms", "2.10 s".
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 10000:
		return fmt.Sprintf("%.1f s", f/1000)
	case f >= 1000:
		return fmt.Sprintf("%.2f s", f/1000)
	case f >= 100:
		return fmt.Sprintf("%.0f ms", f)
	default:
		return fmt.Sprintf("%.1f ms", f)
	}
}

// wrap breaks text at spaces into lines of at most width runes, continuing
// lines with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		n := len([]rune(w))
		if i > 0 {
			if line+1+n > width {
				b.WriteString("\n" + indent)
				line = len(indent)
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}
