package demo

import (
	"bytes"
	"fmt"
	"image/color"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Charts for the HTML page, drawn with gonum/plot as SVG. The terminal draws
// the same figures as text.

// chartColours match the terminal's lane colours in spirit: one per row.
var chartColours = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
	color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
}

var limitColour = color.RGBA{0x55, 0x55, 0x55, 0xff}

// ganttPlotter draws lanes as horizontal bars: lane i at y = n-1-i so the
// first lane is on top, as in the terminal.
type ganttPlotter struct {
	lanes []lane
}

func (g ganttPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	n := len(g.lanes)
	for i, l := range g.lanes {
		y := float64(n - 1 - i)
		x0, x1 := tx(msf(l.Start)), tx(msf(l.End))
		if x1-x0 < 1 {
			x1 = x0 + 1 // a call of any length stays visible
		}
		y0, y1 := ty(y-0.32), ty(y+0.32)
		rect := vg.Path{}
		rect.Move(vg.Point{X: x0, Y: y0})
		rect.Line(vg.Point{X: x1, Y: y0})
		rect.Line(vg.Point{X: x1, Y: y1})
		rect.Line(vg.Point{X: x0, Y: y1})
		rect.Close()
		c.SetColor(chartColours[i%len(chartColours)])
		c.Fill(rect)
	}
}

func (g ganttPlotter) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, l := range g.lanes {
		xmax = max(xmax, msf(l.End))
	}
	return 0, xmax, -0.5, float64(len(g.lanes)) - 0.5
}

// limitLine is a labelled vertical line, e.g. the critical path on a
// waterfall or the pool's capacity on a rate axis.
type limitLine struct {
	x     float64
	label string
}

// ganttSVG draws a timeline chart with optional vertical limit lines.
func ganttSVG(title string, lanes []lane, span time.Duration, limits []limitLine) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "ms since the requests started"
	p.X.Min = 0
	p.X.Max = max(msf(span), 1)
	labels := make([]string, len(lanes))
	for i, l := range lanes {
		labels[len(lanes)-1-i] = l.Label
	}
	p.Add(ganttPlotter{lanes: lanes})
	p.NominalY(labels...)
	p.Add(plotter.NewGrid())
	if err := addVerticals(p, limits, -0.5, float64(len(lanes))-0.5); err != nil {
		return nil, err
	}
	return svgOf(p, 8*vg.Inch, vg.Length(1.0+0.45*float64(len(lanes)))*vg.Inch)
}

func addVerticals(p *plot.Plot, limits []limitLine, ymin, ymax float64) error {
	for i, l := range limits {
		line, err := plotter.NewLine(plotter.XYs{{X: l.x, Y: ymin}, {X: l.x, Y: ymax}})
		if err != nil {
			return fmt.Errorf("limit line %q: %w", l.label, err)
		}
		line.Color = limitColour
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		if i%2 == 1 {
			line.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
		}
		p.Add(line)
		p.Legend.Add(l.label, line)
	}
	p.Legend.Top = true
	return nil
}

// A series is one named row of values over shared categories (e.g. one
// gateway mode's throughput at each offered rate); NaN means not measured.
type series struct {
	Name   string
	Values []float64
	// Broken marks the index at which the series broke; -1 if never.
	Broken int
}

// barsSVG draws grouped bars, one group per category, one bar per series,
// an optional horizontal limit line, and a "breaks" label over each
// series' first broken bar.
func barsSVG(title, ylabel string, categories []string, ss []series, limit *limitLine) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = "offered rate (requests/s)"
	p.NominalX(categories...)
	w := vg.Points(56 / float64(max(len(ss), 1)))
	var marks plotter.XYLabels
	for i, s := range ss {
		vals := make(plotter.Values, len(categories))
		for j := range vals {
			if j < len(s.Values) && s.Values[j] == s.Values[j] { // not NaN
				vals[j] = s.Values[j]
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, fmt.Errorf("bars %q: %w", s.Name, err)
		}
		b.LineStyle.Width = 0
		b.Color = chartColours[i%len(chartColours)]
		b.Offset = w * vg.Length(float64(i)-float64(len(ss)-1)/2)
		p.Add(b)
		p.Legend.Add(s.Name, b)
		if s.Broken >= 0 && s.Broken < len(vals) {
			// Label positions are in data units; shift the mark over its bar.
			off := (float64(i) - float64(len(ss)-1)/2) * 0.8 / float64(len(ss))
			marks.XYs = append(marks.XYs, plotter.XY{X: float64(s.Broken) + off, Y: vals[s.Broken]})
			marks.Labels = append(marks.Labels, "✗")
		}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	if limit != nil {
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: limit.x}, {X: float64(len(categories)) - 0.5, Y: limit.x}})
		if err != nil {
			return nil, fmt.Errorf("limit %q: %w", limit.label, err)
		}
		line.Color = limitColour
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(limit.label, line)
	}
	if len(marks.Labels) > 0 {
		l, err := plotter.NewLabels(marks)
		if err != nil {
			return nil, fmt.Errorf("break marks: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Color = color.RGBA{0xd6, 0x27, 0x28, 0xff}
			l.TextStyle[i].XAlign = -0.5
		}
		p.Add(l)
	}
	return svgOf(p, 8*vg.Inch, 3.6*vg.Inch)
}

// linesSVG draws one line per series over numeric x values, with optional
// vertical limit lines.
func linesSVG(title, xlabel, ylabel string, xs []float64, ss []series, limits []limitLine) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	ymax := 0.0
	for i, s := range ss {
		var pts plotter.XYs
		for j, v := range s.Values {
			if j < len(xs) && v == v {
				pts = append(pts, plotter.XY{X: xs[j], Y: v})
				ymax = max(ymax, v)
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", s.Name, err)
		}
		l.Color = chartColours[i%len(chartColours)]
		l.Width = vg.Points(2)
		sc.Color = l.Color
		if i%2 == 1 {
			l.Dashes = plotutil.Dashes(1)
		}
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	if err := addVerticals(p, limits, 0, max(ymax, 1)); err != nil {
		return nil, err
	}
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return svgOf(p, 8*vg.Inch, 3.6*vg.Inch)
}

func svgOf(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return nil, fmt.Errorf("render chart %q: %w", p.Title.Text, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render chart %q: %w", p.Title.Text, err)
	}
	return buf.Bytes(), nil
}

// msf is a duration in (fractional) milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
