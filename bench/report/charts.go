package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	registry "fanout/bench/figure"
	"fanout/bench/load"
	"fanout/bench/result"
)

// Chart is one chart file of a report.
type Chart struct {
	File  string
	Title string
}

const (
	chartW = 8 * vg.Inch
	chartH = 4.5 * vg.Inch
)

// WriteCharts draws the charts that suit s into dir and returns them in the
// order the report shows them.
func WriteCharts(dir string, s *result.Scenario) ([]Chart, error) {
	var out []Chart
	add := func(file, title string, p *plot.Plot, h vg.Length) error {
		if p == nil {
			return nil
		}
		p.Title.Text = title
		if err := p.Save(chartW, h, filepath.Join(dir, file)); err != nil {
			return fmt.Errorf("draw %s: %w", file, err)
		}
		out = append(out, Chart{File: file, Title: title})
		return nil
	}
	rate := chartRate(s)
	if len(s.Capacity) > 0 {
		if err := add("capacity.svg", "Capacity by mode (req/s within the SLO)", capacityChart(s), chartH); err != nil {
			return nil, err
		}
	}
	if rate > 0 {
		if err := add("percentiles.svg", fmt.Sprintf("Latency percentiles by mode at %s req/s", load.FormatRate(rate)), percentileChart(s, rate), chartH); err != nil {
			return nil, err
		}
	}
	if len(s.Rates) > 1 {
		if err := add("rate-p50.svg", "Median latency vs offered rate", rateChart(s, "p50"), chartH); err != nil {
			return nil, err
		}
		if err := add("rate-p99.svg", "p99 latency vs offered rate", rateChart(s, "p99"), chartH); err != nil {
			return nil, err
		}
	}
	if len(s.Phases) > 0 && rate > 0 {
		title := fmt.Sprintf("%s over the run at %s req/s (events at the dotted lines)", timelineStat(s, rate), load.FormatRate(rate))
		if err := add("timeline.svg", title, timelineChart(s, rate, false), chartH); err != nil {
			return nil, err
		}
		if err := add("timeline-success.svg", fmt.Sprintf("Success over the run at %s req/s", load.FormatRate(rate)), timelineChart(s, rate, true), chartH); err != nil {
			return nil, err
		}
	}
	if p := memoryChart(s); p != nil {
		if err := add("memory.svg", "Gateway resident memory over each run", p, chartH); err != nil {
			return nil, err
		}
	}
	// One chart per measured run, from its results file, drawn after the
	// summaries.
	overTime, plots := overTimeCharts(dir, s)
	if rate > 0 {
		p, rows := waterfallChart(s, rate)
		h := max(chartH, vg.Length(rows)*0.28*vg.Inch+1.2*vg.Inch)
		if err := add("waterfall.svg", fmt.Sprintf("One request per mode near its median, from Server-Timing (%s req/s)", load.FormatRate(rate)), p, h); err != nil {
			return nil, err
		}
	}
	for _, c := range overTime {
		p, ok := plots[c.File]
		if !ok {
			// Kept as it was drawn (see overTimeCharts).
			out = append(out, c)
			continue
		}
		if err := add(c.File, c.Title, p, chartH); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Label names a variant for readers: a pool's size is always shown, as in
// "pool (16)", because a pool's figures mean little without it, even when a
// scenario has one pool size and its variant is just "pool".
func Label(variant, mode string, poolSize int) string {
	if mode == "pool" && poolSize > 0 {
		return fmt.Sprintf("pool (%d)", poolSize)
	}
	return variant
}

// chartRate is the rate the per-mode charts show: the lowest, where modes
// are compared before saturation distorts them.
func chartRate(s *result.Scenario) float64 {
	if len(s.Rates) > 0 {
		return s.Rates[0]
	}
	return 0
}

func newPlot() *plot.Plot {
	p := plot.New()
	p.Legend.Top = true
	p.Legend.Left = true
	// Keep the legend clear of the title.
	p.Legend.YOffs = -vg.Points(6)
	p.Legend.XOffs = vg.Points(6)
	p.Add(plotter.NewGrid())
	return p
}

// logY puts the Y axis on a log scale, which keeps 40ms and 4s readable on
// one chart, with enough labelled ticks to read a value off it. Values must
// be positive.
func logY(p *plot.Plot) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
}

// headroom raises the top of a log-scale Y axis so the legend, drawn in the
// top-left corner, does not cover the highest line; Add has already
// stretched the axis over the data. The legend takes about the top third of
// the chart, so the top is raised by the square root of the data's span
// (its log by half the data's log span): a wide span keeps its room, and a
// narrow one (40 to 90 ms) is not squashed into the bottom of the chart.
func headroom(p *plot.Plot) {
	if p.Y.Max <= 0 || p.Y.Min <= 0 {
		return
	}
	p.Y.Max *= max(1.6, math.Sqrt(p.Y.Max/p.Y.Min)*1.2)
	p.Y.Min /= 1.15
}

// variantLabel is the label of variant v of s for readers (see Label).
func variantLabel(s *result.Scenario, v string) string {
	for _, r := range s.Runs {
		if r.Variant == v {
			return Label(r.Variant, r.Mode, r.PoolSize)
		}
	}
	for _, c := range s.Capacity {
		if c.Variant == v {
			return Label(c.Variant, c.Mode, c.PoolSize)
		}
	}
	return v
}

func positive(ms float64) float64 { return math.Max(ms, 0.01) }

func ms(d time.Duration) float64 { return positive(result.Millis(d)) }

func percentileChart(s *result.Scenario, rate float64) *plot.Plot {
	p := newPlot()
	logY(p)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms, log scale)"
	names := []string{"p50", "p90", "p99", "p99.9", "max"}
	p.NominalX(names...)
	var legends []func()
	if s.Limits != nil {
		cp := s.Limits.CriticalPath
		legends = append(legends, limitLine(p, "critical path", plotter.XYs{{X: 0, Y: ms(cp.P50)}, {X: 1, Y: ms(cp.P90)}, {X: 2, Y: ms(cp.P99)}, {X: 3, Y: ms(cp.P999)}}, color.Black))
		sum := s.Limits.Sum
		legends = append(legends, limitLine(p, "sum", plotter.XYs{{X: 0, Y: ms(sum.P50)}, {X: 1, Y: ms(sum.P90)}, {X: 2, Y: ms(sum.P99)}, {X: 3, Y: ms(sum.P999)}}, color.Gray{Y: 128}))
	}
	n := 0
	for i, v := range s.Variants {
		r, ok := s.Run(v, rate)
		if !ok {
			continue
		}
		l := r.Latency
		pts := plotter.XYs{{X: 0, Y: ms(l.P50)}, {X: 1, Y: ms(l.P90)}, {X: 2, Y: ms(l.P99)}, {X: 3, Y: ms(l.P999)}, {X: 4, Y: ms(l.Max)}}
		label := variantLabel(s, v)
		if !r.EnoughSamples() {
			// The tables refuse a p99 of too few requests; so does the
			// chart, and a line to the max would draw them all the same.
			pts = pts[:2]
			label += fmt.Sprintf(" (%d requests: no p99)", r.Requests)
		}
		if _, err := addSeries(p, label, pts, i); err == nil {
			n++
		}
	}
	for _, legend := range legends {
		legend()
	}
	if n == 0 {
		return nil
	}
	headroom(p)
	return p
}

// limitLine draws a limit as a dashed line and returns the function that
// names it in the legend. Charts draw their limits before their series,
// and thinner: a series that runs along its limit (concurrent at the
// critical path) is drawn over it and stays visible, where a limit drawn
// last would hide it; the legend still lists the series first.
func limitLine(p *plot.Plot, name string, pts plotter.XYs, c color.Color) (legend func()) {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return func() {}
	}
	l.Color = c
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	p.Add(l)
	return func() { p.Legend.Add(name+" (limit)", l) }
}

// addSeries draws pts on p as the i-th series, a line with its points in
// the i-th colour and shape, and names it in the legend. It returns the
// points so that a chart may restyle them, or the error that kept the
// series off the chart.
func addSeries(p *plot.Plot, name string, pts plotter.XYs, i int) (*plotter.Scatter, error) {
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", name, err)
	}
	style(line, points, i)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return points, nil
}

// palette holds the colours of the first series of a chart: the
// Okabe–Ito colours, which stay apart for readers with a colour-vision
// deficiency, without their black (the limits' colour), their yellow
// (unreadable on white) and their vermillion (too close to failColor),
// then a few more as far from those.
var palette = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {86, 180, 233, 255},
	{140, 86, 75, 255}, {188, 189, 34, 255}, {117, 112, 179, 255}, {0, 0, 128, 255}, {255, 127, 80, 255},
}

// failColor marks failed requests; no series has it.
var failColor = color.RGBA{R: 220, A: 255}

// seriesColor is the colour of the i-th series of a chart: one of palette,
// then, for charts with more series (the memory chart has one per mode and
// rate), hues a golden angle apart at two brightnesses, so that no two
// series of a chart share a colour, as plotutil's seven colours did from
// the eighth on.
func seriesColor(i int) color.Color {
	if i < len(palette) {
		return palette[i]
	}
	k := i - len(palette)
	h := math.Mod(0.1+float64(k)*0.618034, 1)
	v := 0.8
	if k%2 == 1 {
		v = 0.55
	}
	return hsv(h, 0.75, v)
}

// hsv converts a hue, saturation and value (each in [0, 1]) to a colour.
func hsv(h, s, v float64) color.RGBA {
	i := math.Floor(h * 6)
	f := h*6 - i
	p, q, t := v*(1-s), v*(1-f*s), v*(1-(1-f)*s)
	var r, g, b float64
	switch int(i) % 6 {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.RGBA{R: uint8(r * 255), G: uint8(g * 255), B: uint8(b * 255), A: 255}
}

func style(l *plotter.Line, pts *plotter.Scatter, i int) {
	c := seriesColor(i)
	l.Color = c
	l.Width = vg.Points(1.5)
	if pts != nil {
		pts.Color = c
		pts.Shape = plotutil.Shape(i)
	}
}

// rateChart draws the latency figure stat of the registry against the
// offered rate, one line per variant; a tail figure (registry.Figure.Tail)
// of a run of too few requests is left out, and nil is returned when
// nothing is left.
func rateChart(s *result.Scenario, stat string) *plot.Plot {
	f, ok := registry.Lookup(stat)
	if !ok {
		return nil
	}
	p := newPlot()
	logY(p)
	p.X.Label.Text = "offered rate (req/s)"
	p.Y.Label.Text = stat + " latency (ms, log scale)"
	legend := func() {}
	if s.Limits != nil && len(s.Rates) > 0 {
		lo, hi := s.Rates[0], s.Rates[len(s.Rates)-1]
		d, _ := s.Limits.CriticalPath.Stat(stat)
		legend = limitLine(p, "critical path "+stat, plotter.XYs{{X: lo, Y: ms(d)}, {X: hi, Y: ms(d)}}, color.Black)
	}
	n := 0
	for i, v := range s.Variants {
		var pts plotter.XYs
		for _, rate := range s.Rates {
			r, ok := s.Run(v, rate)
			if !ok {
				continue
			}
			v, ok := f.ColumnValue(r)
			if !ok {
				continue
			}
			pts = append(pts, plotter.XY{X: rate, Y: positive(v)})
		}
		if len(pts) == 0 {
			continue
		}
		if _, err := addSeries(p, variantLabel(s, v), pts, i); err == nil {
			n++
		}
	}
	legend()
	if n == 0 {
		return nil
	}
	headroom(p)
	return p
}

func capacityChart(s *result.Scenario) *plot.Plot {
	p := newPlot()
	p.Y.Label.Text = "highest rate within the SLO (req/s)"
	// A search that found no capacity has a bound instead ("below 102":
	// the floor of enough samples, or the lowest rate that failed). It is
	// drawn as a pale bar up to that bound with its text, never as a bar
	// of 0, which would read as a gateway that served nothing.
	var vals, bounds plotter.Values
	var names, texts []string
	for _, c := range s.Capacity {
		bound := 0.0
		if c.Capacity == 0 {
			bound = c.Floor
			if bound == 0 && c.Searched == 0 {
				bound = c.Ceiling
			}
		}
		vals, bounds = append(vals, c.Capacity), append(bounds, bound)
		names = append(names, Label(c.Variant, c.Mode, c.PoolSize))
		text := CapacityText(c)
		if c.Capacity == 0 {
			text, _, _ = strings.Cut(text, " (")
		}
		texts = append(texts, text)
	}
	if len(vals) == 0 {
		return nil
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return nil
	}
	bars.Color = seriesColor(0)
	p.Add(bars)
	if slices.ContainsFunc(bounds, func(b float64) bool { return b > 0 }) {
		if below, err := plotter.NewBarChart(bounds, vg.Points(40)); err == nil {
			below.Color = color.Gray{Y: 225}
			below.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
			p.Add(below)
		}
	}
	var pts plotter.XYLabels
	for i, v := range vals {
		pts.XYs = append(pts.XYs, plotter.XY{X: float64(i), Y: max(v, bounds[i])})
		pts.Labels = append(pts.Labels, texts[i])
	}
	if labels, err := plotter.NewLabels(pts); err == nil {
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign = draw.XCenter
		}
		labels.Offset = vg.Point{Y: vg.Points(4)}
		p.Add(labels)
	}
	p.Y.Max *= 1.1
	p.NominalX(names...)
	p.Legend.Top = false
	return p
}

// eventName names an event for its line: the phase it starts and what
// changed ("degraded: results latency fixed:3s", "calm: rate 100/s").
func eventName(e result.Event) string {
	change := e.Describe()
	if n := []rune(change); len(n) > 36 {
		change = string(n[:35]) + "…"
	}
	return fmt.Sprintf("%s: %s", e.Phase, change)
}

// timelineStat is the percentile the latency timeline at rate draws: the
// p99 where every slice of every run holds load.MinSamples requests, else
// the p50, since a p99 of fewer is what the tables refuse.
func timelineStat(s *result.Scenario, rate float64) string {
	for _, v := range s.Variants {
		if r, ok := s.Run(v, rate); ok {
			for _, b := range r.Timeline {
				if b.Requests > 0 && b.Requests < load.MinSamples {
					return "p50"
				}
			}
		}
	}
	return "p99"
}

func timelineChart(s *result.Scenario, rate float64, success bool) *plot.Plot {
	p := newPlot()
	p.X.Label.Text = "time into the run (s)"
	stat := timelineStat(s, rate)
	if success {
		p.Y.Label.Text = "success (%)"
		p.Y.Min, p.Y.Max = 0, 100
	} else {
		logY(p)
		p.Y.Label.Text = stat + " latency (ms, log scale)"
	}
	n := 0
	var top float64 = 100
	var right float64 // the last offset drawn
	for i, v := range s.Variants {
		r, ok := s.Run(v, rate)
		if !ok || len(r.Timeline) == 0 {
			continue
		}
		var pts plotter.XYs
		for _, b := range r.Timeline {
			if b.Requests == 0 {
				continue
			}
			y := 100 * b.Success
			switch {
			case success:
			case stat == "p99":
				y = ms(b.P99)
			default:
				y = ms(b.P50)
			}
			top = math.Max(top, y)
			right = math.Max(right, b.Offset.Seconds())
			pts = append(pts, plotter.XY{X: b.Offset.Seconds(), Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		style(line, nil, i)
		p.Add(line)
		p.Legend.Add(variantLabel(s, v), line)
		n++
	}
	if n == 0 {
		return nil
	}
	if !success {
		headroom(p)
		top = p.Y.Max
	} else {
		p.Y.Max = 130 // room for the legend above 100 %
	}
	// Each event line is named beside its top, so a reader need not look
	// the offsets up in the report's table: on its right, or on its left
	// in the right half of the run, where the name would leave the chart.
	// Events close in time would write their names over each other: a
	// name that would overlap one already placed goes a line lower.
	var names, leftNames plotter.XYLabels
	var placed [][]span // by line, the x spans of the names on it
	perPoint := (p.X.Max - p.X.Min) / (0.8 * chartW.Points())
	for _, e := range s.Events {
		x := e.At.Seconds()
		lo, hi := 0.0, 100.0
		if !success {
			lo, hi = p.Y.Min, top
		}
		if l, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}}); err == nil {
			l.Color = color.Gray{Y: 100}
			l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(l)
		}
		name := eventName(e)
		width := (float64(utf8.RuneCountInString(name))*labelCharWidth + 6) * perPoint
		side, sp := &names, span{x, x + width}
		if x > right/2 {
			side, sp = &leftNames, span{x - width, x}
		}
		line := 0
		for line < len(placed) && slices.ContainsFunc(placed[line], sp.overlaps) {
			line++
		}
		if line == len(placed) {
			placed = append(placed, nil)
		}
		placed[line] = append(placed[line], sp)
		at := 118.0 - 8*float64(line)
		if !success {
			at = top / 1.6 / math.Pow(1.25, float64(line))
		}
		side.XYs = append(side.XYs, plotter.XY{X: x, Y: at})
		side.Labels = append(side.Labels, name)
	}
	if len(names.XYs) > 0 {
		if l, err := plotter.NewLabels(names); err == nil {
			l.Offset = vg.Point{X: vg.Points(3)}
			p.Add(l)
		}
	}
	if len(leftNames.XYs) > 0 {
		if l, err := plotter.NewLabels(leftNames); err == nil {
			for i := range l.TextStyle {
				l.TextStyle[i].XAlign = draw.XRight
			}
			l.Offset = vg.Point{X: -vg.Points(3)}
			p.Add(l)
		}
	}
	return p
}

// labelCharWidth is about the width of one character of a chart's labels,
// in points (10 pt Liberation Serif averages about half its size).
const labelCharWidth = 5.5

// span is an interval of a chart's X axis that a label takes.
type span struct{ lo, hi float64 }

func (a span) overlaps(b span) bool { return a.lo < b.hi && b.lo < a.hi }

// gantt draws horizontal bars from start to end on their rows. A bar that
// ends beyond clip (when clip > 0) is cut at clip, where a label gives its
// real end.
type gantt struct {
	bars []ganttBar
	clip float64
}

type ganttBar struct {
	row        float64
	start, end float64
	color      color.Color
}

func (g gantt) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, b := range g.bars {
		end := b.end
		if g.clip > 0 {
			end = min(end, g.clip)
		}
		y0, y1 := ty(b.row-0.35), ty(b.row+0.35)
		x0, x1 := tx(b.start), tx(end)
		if x1-x0 < 1 {
			x1 = x0 + 1
		}
		c.FillPolygon(b.color, c.ClipPolygonXY([]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}))
	}
}

func (g gantt) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = 0, -0.5
	for _, b := range g.bars {
		xmax = math.Max(xmax, b.end)
		ymax = math.Max(ymax, b.row+0.5)
	}
	if g.clip > 0 {
		xmax = min(xmax, g.clip)
	}
	return xmin, xmax * 1.02, ymin, ymax
}

// clipAt returns where the waterfall's time axis ends: at the end of the
// last bar, unless some requests took far longer than the others (a
// blocking request that waited 2 s for a 504, beside 40 to 90 ms ones);
// their bars are cut so that the others stay readable on one scale. Far
// longer is more than three times the longest of the sum of the
// backends' latencies (what sequential costs) and the fastest request.
// It returns 0 when nothing needs cutting.
func clipAt(totals []float64, sum float64) float64 {
	if len(totals) == 0 {
		return 0
	}
	limit := 3 * max(slices.Min(totals), sum)
	longest, kept := 0.0, 0.0
	for _, t := range totals {
		longest = max(longest, t)
		if t <= limit {
			kept = max(kept, t)
		}
	}
	if longest <= limit || kept == 0 {
		return 0
	}
	return kept * 1.25
}

// waterfallChart draws, for each mode, the calls of one request near the
// median as bars from their start to their end; rows go top-down by mode.
// All modes share one time axis so their bars compare; a request far
// longer than the others is cut, with its duration written on it.
func waterfallChart(s *result.Scenario, rate float64) (*plot.Plot, int) {
	p := newPlot()
	p.Legend.Top = false
	p.X.Label.Text = "time since the request started (ms)"
	var labels []string
	var g gantt
	type row struct {
		label      string
		start, end float64
		color      color.Color
	}
	var rows []row
	var totals []float64
	for i, v := range s.Variants {
		r, ok := s.Run(v, rate)
		if !ok || r.Timing == nil {
			continue
		}
		name := Label(r.Variant, r.Mode, r.PoolSize)
		for _, c := range r.Timing.Calls {
			rows = append(rows, row{label: name + " · " + c.Name, start: result.Millis(c.Start), end: result.Millis(c.Start + c.Duration), color: seriesColor(i)})
		}
		total := result.Millis(r.Timing.Total)
		totals = append(totals, total)
		rows = append(rows, row{label: name + " · total", start: 0, end: total, color: color.Gray{Y: 170}})
	}
	if len(rows) == 0 {
		return nil, 0
	}
	sum := 0.0
	if s.Limits != nil {
		sum = result.Millis(s.Limits.Sum.P50)
	}
	g.clip = clipAt(totals, sum)
	var cut plotter.XYLabels
	// Row 0 is drawn at the bottom: reverse so the first mode is on top.
	for i := range rows {
		r := rows[len(rows)-1-i]
		labels = append(labels, r.label)
		g.bars = append(g.bars, ganttBar{row: float64(i), start: r.start, end: r.end, color: r.color})
		if g.clip > 0 && r.end > g.clip {
			cut.XYs = append(cut.XYs, plotter.XY{X: g.clip, Y: float64(i)})
			// The bar's span, since a call that starts beyond the cut
			// has no bar left to see.
			cut.Labels = append(cut.Labels, fmt.Sprintf("%s–%s ms >", strconv.FormatFloat(r.start, 'f', 0, 64), strconv.FormatFloat(r.end, 'f', 0, 64)))
		}
	}
	p.Add(g)
	p.NominalY(labels...)
	if len(cut.XYs) > 0 {
		if l, err := plotter.NewLabels(cut); err == nil {
			for i := range l.TextStyle {
				l.TextStyle[i].XAlign = draw.XRight
				l.TextStyle[i].YAlign = draw.YCenter
				l.TextStyle[i].Color = color.Black
			}
			l.Offset = vg.Point{X: -vg.Points(3)}
			p.Add(l)
		}
		p.X.Max = g.clip * 1.02
	}
	if s.Limits != nil {
		cp := result.Millis(s.Limits.CriticalPath.P50)
		if l, err := plotter.NewLine(plotter.XYs{{X: cp, Y: -0.5}, {X: cp, Y: float64(len(rows)) - 0.5}}); err == nil {
			l.Color = color.Black
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			p.Add(l)
			p.Legend.Add("critical path p50", l)
			p.Legend.Top, p.Legend.Left = true, false
		}
	}
	return p, len(rows)
}

// memoryChart draws the gateway's resident memory over each run, for runs
// long enough (20 samples) for a trend to mean something.
func memoryChart(s *result.Scenario) *plot.Plot {
	p := newPlot()
	p.X.Label.Text = "time into the run (s)"
	p.Y.Label.Text = "resident memory (MiB)"
	n := 0
	for i, r := range s.Runs {
		if len(r.Samples) < 20 {
			continue
		}
		var pts plotter.XYs
		for _, smp := range r.Samples {
			pts = append(pts, plotter.XY{X: smp.Offset.Seconds(), Y: float64(smp.RSS) / (1 << 20)})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		style(line, nil, i)
		p.Add(line)
		p.Legend.Add(Label(r.Variant, r.Mode, r.PoolSize)+" @ "+load.FormatRate(r.Rate), line)
		n++
	}
	if n == 0 {
		return nil
	}
	p.Y.Min = 0
	p.Y.Max *= 1.3
	return p
}
