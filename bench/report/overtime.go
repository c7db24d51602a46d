package report

import (
	"cmp"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"fanout/bench/dist"
	"fanout/bench/load"
	"fanout/bench/result"
)

// maxFailedPoints caps the failed requests drawn one by one on a latency
// over time chart, so that a run where everything failed stays a small
// file; beyond it they are sampled evenly.
const maxFailedPoints = 400

// hit is what the latency over time chart needs of one result.
type hit struct {
	offset  time.Duration // start, from the first request's start
	latency time.Duration
	ok      bool
}

// readHits reads a vegeta results file (the <mode>-<rate>.bin of a run),
// with offsets from the first request's start, in start order.
func readHits(file string) ([]hit, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var out []hit
	var first time.Time
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			// A run cut short can leave a truncated last record: what
			// was read is returned with the error.
			normalise(out, first)
			return out, fmt.Errorf("read results %s: %w", file, err)
		}
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		out = append(out, hit{offset: time.Duration(r.Timestamp.UnixNano()), latency: r.Latency, ok: r.Code >= 200 && r.Code < 400})
	}
	normalise(out, first)
	return out, nil
}

// normalise makes the offsets of hits relative to first and sorts them.
func normalise(hits []hit, first time.Time) {
	for i := range hits {
		hits[i].offset -= time.Duration(first.UnixNano())
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.offset, b.offset) })
}

// binWidth slices a run into bins: one second on runs of 20 s or more,
// about twenty bins on shorter ones.
func binWidth(span time.Duration) time.Duration {
	if span >= 20*time.Second {
		return time.Second
	}
	return max((span / 20).Round(10*time.Millisecond), 50*time.Millisecond)
}

// KeptNote ends the title of a chart kept as it was drawn, because the
// results file it was drawn from is gone.
const KeptNote = " (as first drawn: its results file is gone)"

// overTimeCharts draws, for each measured run whose results file is in dir,
// its latency over the run: p50, p99 and max of the requests started in
// each slice of time, and each failed request as a point. A slice of fewer
// than load.MinSamples requests has no p99 point, as the tables show no
// p99 of so few. A percentile of
// the whole run hides a queue that grows (each request waiting longer
// than the one before); these lines show it. A run without its results
// file (a committed reference run, whose .bin files are not committed)
// keeps the chart drawn before, if the directory has it, without a plot
// in the map; else it has no chart.
func overTimeCharts(dir string, s *result.Scenario) ([]Chart, map[string]*plot.Plot) {
	var charts []Chart
	plots := map[string]*plot.Plot{}
	for _, r := range s.Runs {
		if r.Probe || r.File == "" {
			continue
		}
		file := strings.TrimSuffix(r.File, filepath.Ext(r.File)) + "-over-time.svg"
		title := fmt.Sprintf("Latency over the run: %s at %s req/s", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(r.Rate))
		hits, err := readHits(filepath.Join(dir, r.File))
		if errors.Is(err, os.ErrNotExist) {
			// A committed reference run keeps its charts but not its
			// results files, which are large: a chart drawn when the
			// run was made cannot be drawn again, so it is kept as it
			// is, and its title says so.
			if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
				charts = append(charts, Chart{File: file, Title: title + KeptNote})
			}
			continue
		}
		if err != nil {
			// The other charts and the report do not depend on this file:
			// a damaged one costs its own chart (or its tail), not the report.
			slog.Warn("latency over time chart: results file damaged; drawing what could be read", "run", r.File, "err", err, "results", len(hits))
		}
		p := overTimeChart(s, &r, hits)
		if p == nil {
			continue
		}
		charts = append(charts, Chart{File: file, Title: title})
		plots[file] = p
	}
	return charts, plots
}

func overTimeChart(s *result.Scenario, r *result.Run, hits []hit) *plot.Plot {
	if len(hits) == 0 {
		return nil
	}
	width := binWidth(hits[len(hits)-1].offset)
	p := newPlot()
	logY(p)
	p.X.Label.Text = fmt.Sprintf("request start, time into the run (s; slices of %v)", width)
	p.Y.Label.Text = "latency (ms, log scale)"
	var p50, p99, top plotter.XYs
	var failed plotter.XYs
	nFailed := 0
	for _, h := range hits {
		if !h.ok {
			nFailed++
		}
	}
	every := max(1, (nFailed+maxFailedPoints-1)/maxFailedPoints)
	k := 0
	for lo := 0; lo < len(hits); {
		bin := hits[lo].offset / width
		hi := lo
		var lat []time.Duration
		for hi < len(hits) && hits[hi].offset/width == bin {
			lat = append(lat, hits[hi].latency)
			if !hits[hi].ok {
				if k%every == 0 {
					failed = append(failed, plotter.XY{X: hits[hi].offset.Seconds(), Y: ms(hits[hi].latency)})
				}
				k++
			}
			hi++
		}
		slices.Sort(lat)
		x := (time.Duration(bin)*width + width/2).Seconds()
		p50 = append(p50, plotter.XY{X: x, Y: ms(dist.Quantile(lat, 0.5))})
		if len(lat) >= load.MinSamples {
			p99 = append(p99, plotter.XY{X: x, Y: ms(dist.Quantile(lat, 0.99))})
		}
		top = append(top, plotter.XY{X: x, Y: ms(lat[len(lat)-1])})
		lo = hi
	}
	legend := func() {}
	if s.Limits != nil {
		cp := ms(s.Limits.CriticalPath.P50)
		legend = limitLine(p, "critical path p50", plotter.XYs{{X: 0, Y: cp}, {X: top[len(top)-1].X, Y: cp}}, color.Black)
	}
	for i, series := range []struct {
		name string
		pts  plotter.XYs
	}{{"p50", p50}, {"p99", p99}, {"max", top}} {
		if len(series.pts) == 0 {
			// No slice held enough requests for a p99.
			continue
		}
		points, err := addSeries(p, series.name, series.pts, i)
		if err != nil {
			return nil
		}
		points.Radius = vg.Points(1.5)
	}
	if len(failed) > 0 {
		if sc, err := plotter.NewScatter(failed); err == nil {
			sc.Color = failColor
			sc.Shape = draw.CrossGlyph{}
			sc.Radius = vg.Points(2)
			p.Add(sc)
			name := fmt.Sprintf("failed (%d)", nFailed)
			if every > 1 {
				name = fmt.Sprintf("failed (%d, 1 in %d drawn)", nFailed, every)
			}
			p.Legend.Add(name, sc)
		}
	}
	legend()
	headroom(p)
	return p
}
