package demo

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// show is where the acts write: the terminal (coloured when it is one) and,
// with -html, a page that gets the same text without colour plus the
// charts. Acts call its methods from one goroutine.
type show struct {
	out   io.Writer
	pal   palette
	page  *page         // nil without -html
	in    *bufio.Reader // nil: never pause between acts
	width int           // timeline and bar width in cells
	acts  int           // acts shown so far, for numbering and pauses
}

// Write sends text to the terminal and, stripped of colour, to the page.
func (s *show) Write(b []byte) (int, error) {
	if s.page != nil {
		s.page.text.WriteString(stripANSI(string(b)))
	}
	return s.out.Write(b)
}

func (s *show) printf(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// act opens an act: a pause after the previous one (on a terminal), a
// title, and a lead paragraph.
func (s *show) act(title, lead string) {
	if s.acts > 0 {
		s.pause()
	}
	s.acts++
	if s.page != nil {
		s.page.open(fmt.Sprintf("%d. %s", s.acts, title))
	}
	head := fmt.Sprintf("━━ %d · %s ", s.acts, title)
	rule := strings.Repeat("━", max(s.width+14-len([]rune(head)), 3))
	fmt.Fprintf(s.out, "\n%s\n", s.pal.bold(head+rule))
	s.printf("%s\n", strings.TrimRight(lead, "\n"))
}

// progress shows a transient status line on a terminal (never on the page,
// nor in pipes); the next call to done erases it.
func (s *show) progress(format string, args ...any) {
	if s.pal.on {
		fmt.Fprint(s.out, s.pal.dim(fmt.Sprintf(format, args...)))
	}
}

// done erases the line progress wrote.
func (s *show) done() {
	if s.pal.on {
		fmt.Fprint(s.out, "\r\x1b[K")
	}
}

// pause waits for Enter when standard input is a terminal and pausing is on.
func (s *show) pause() {
	if s.in == nil {
		return
	}
	fmt.Fprint(s.out, s.pal.dim("\n  ⏎  press Enter for the next act "))
	_, _ = s.in.ReadString('\n')
}

// chart adds an SVG chart to the page; the terminal has drawn its own.
func (s *show) chart(svg []byte, caption string) {
	if s.page != nil {
		s.page.chart(svg, caption)
	}
}

// page collects the acts for -html: blocks of preformatted text and inline
// SVG charts, rendered as one self-contained HTML file.
type page struct {
	title    string
	footer   string
	sections []*pageSection
	text     bytes.Buffer // text not yet put into a block
}

type pageSection struct {
	Title  string
	Blocks []pageBlock
}

type pageBlock struct {
	Text    string
	SVG     template.HTML
	Caption string
}

func (p *page) flush() {
	if len(p.sections) == 0 {
		p.sections = append(p.sections, &pageSection{})
	}
	t := strings.Trim(p.text.String(), "\n")
	p.text.Reset()
	if t == "" {
		return
	}
	cur := p.sections[len(p.sections)-1]
	cur.Blocks = append(cur.Blocks, pageBlock{Text: t})
}

func (p *page) open(title string) {
	p.flush()
	p.sections = append(p.sections, &pageSection{Title: title})
}

func (p *page) chart(svg []byte, caption string) {
	p.flush()
	cur := p.sections[len(p.sections)-1]
	// gonum writes a standalone document; inline SVG needs only the element.
	s := string(svg)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	// The chart is our own gonum output, not user input: safe to inline.
	cur.Blocks = append(cur.Blocks, pageBlock{SVG: template.HTML(s), Caption: caption})
}

// WriteTo renders the page.
func (p *page) WriteTo(w io.Writer) (int64, error) {
	p.flush()
	var sections []*pageSection
	for _, s := range p.sections {
		if s.Title != "" || len(s.Blocks) > 0 {
			sections = append(sections, s)
		}
	}
	cw := &countWriter{w: w}
	err := pageTemplate.Execute(cw, struct {
		Title, Footer string
		Sections      []*pageSection
	}{p.title, p.footer, sections})
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// pageTemplate is a page for a projector: large type, dark background, no
// external assets.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { margin: 0 auto; max-width: 72rem; padding: 2rem; font: 18px/1.5 system-ui, sans-serif; background: #fff; color: #1d1f21; }
h1 { font-size: 2rem; }
h2 { font-size: 1.6rem; border-top: 3px solid #1d1f21; padding-top: 1rem; margin-top: 3rem; }
pre { font: 15px/1.35 ui-monospace, Menlo, Consolas, monospace; background: #1d1f21; color: #e6e6e6; padding: 1rem 1.2rem; border-radius: 6px; overflow-x: auto; }
figure { margin: 1.5rem 0; }
figure svg { width: 100%; height: auto; max-width: 60rem; }
figcaption { color: #555; font-size: 0.95rem; }
footer { margin-top: 3rem; color: #555; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Sections}}<section>
{{if .Title}}<h2>{{.Title}}</h2>{{end}}
{{range .Blocks}}{{if .SVG}}<figure>{{.SVG}}{{if .Caption}}<figcaption>{{.Caption}}</figcaption>{{end}}</figure>
{{else}}<pre>{{.Text}}</pre>
{{end}}{{end}}</section>
{{end}}{{if .Footer}}<footer>{{.Footer}}</footer>
{{end}}</body>
</html>
`))
