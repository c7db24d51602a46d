package demo

import (
	"context"
	"fmt"
	"time"

	"fanout/bench/launch"
)

// The event loop's two requests: single-call operations on different
// backends, so that each backend's latency is the request's latency.
const (
	slowPath = "/v2/experiments/1"
	fastPath = "/v2/projects/1"
)

// EventLoopRun is the event loop act in one gateway mode: when each of the
// two requests started and finished, measured by the client from the same
// moment.
type EventLoopRun struct {
	Mode       string
	Slow, Fast Interval
}

// Interval is a request's start and end, as offsets from a shared moment.
type Interval struct{ Start, End time.Duration }

// FastFirst reports whether the fast request finished before the slow one.
func (r EventLoopRun) FastFirst() bool { return r.Fast.End < r.Slow.End }

func (p *player) eventLoop(ctx context.Context) error {
	o, s := p.o, p.s
	s.act("The event loop", fmt.Sprintf(
		"Two requests at once: a slow one (GET %s, its backend takes %s)\n"+
			"and, a moment later, a fast one (GET %s, its backend takes %s).\n"+
			"The same gateway code in two modes.\n",
		slowPath, ms(o.Slow), fastPath, ms(o.Fast)))
	st, err := startStage(ctx, p.bins, p.logs, []string{
		"-latency", "experiments.get_experiment=fixed:" + o.Slow.String(),
		"-latency", "projects.get_project=fixed:" + o.Fast.String(),
	}, []launch.Gateway{{Mode: "concurrent"}, {Mode: "blocking"}})
	if err != nil {
		return err
	}
	defer st.stop()
	for _, path := range []string{slowPath, fastPath} {
		if err := st.warm(ctx, path); err != nil {
			return err
		}
	}
	// The fast request leaves a little after the slow one, as on the slide,
	// so that in blocking mode the slow one is surely first to the lock.
	gap := max(o.Fast/4, 25*time.Millisecond)
	span := o.Slow + o.Fast + gap + o.Fast/2
	var lanesByMode [][]lane
	for _, mode := range []string{"concurrent", "blocking"} {
		s.printf("\n%s\n", s.pal.bold(mode+" mode"))
		// The stamps print live, as the classic slide's console does.
		run, err := p.eventLoopRun(ctx, st, mode, gap, func(at time.Duration, slow bool, what string) {
			who := s.pal.paint(ansiCyan, "fast")
			if slow {
				who = s.pal.paint(ansiYellow, "slow")
			}
			s.printf("  %8s  %s request %s\n", ms(at), who, what)
		})
		if err != nil {
			return err
		}
		p.report.EventLoop = append(p.report.EventLoop, run)
		lanes := eventLoopLanes(run)
		lanesByMode = append(lanesByMode, lanes)
		span = max(span, run.Slow.End, run.Fast.End)
		s.printf("\n")
		timeline(s, s.pal, "  ", lanes, span, s.width)
		s.printf("  %s\n", eventLoopVerdict(s.pal, run, o))
	}
	if s.page != nil {
		for i, mode := range []string{"concurrent", "blocking"} {
			svg, err := ganttSVG(mode+" mode", lanesByMode[i], span, nil)
			if err != nil {
				return err
			}
			s.chart(svg, eventLoopVerdict(palette{}, p.report.EventLoop[len(p.report.EventLoop)-2+i], o))
		}
	}
	return nil
}

// eventLoopRun sends the slow request, then after gap the fast one, to the
// gateway of mode, and times both from the first send. It calls stamp, from
// the calling goroutine, as each request starts and finishes.
func (p *player) eventLoopRun(ctx context.Context, st *stage, mode string, gap time.Duration, stamp func(at time.Duration, slow bool, what string)) (EventLoopRun, error) {
	type done struct {
		slow bool
		r    response
		err  error
	}
	ch := make(chan done, 2)
	t0 := time.Now()
	stamp(0, true, "start")
	go func() {
		r, err := st.get(ctx, mode, slowPath, t0)
		ch <- done{true, r, err}
	}()
	// Start the fast one once the slow one is surely waiting on its
	// backend (so, in blocking mode, holding the lock), and not before gap.
	st.waitInFlight(ctx, "experiments", "get_experiment", p.o.Slow/2)
	if d := gap - time.Since(t0); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	stamp(time.Since(t0), false, "start")
	go func() {
		r, err := st.get(ctx, mode, fastPath, t0)
		ch <- done{false, r, err}
	}()
	run := EventLoopRun{Mode: mode}
	var firstErr error
	for range 2 {
		d := <-ch
		if d.err != nil && firstErr == nil {
			firstErr = d.err
		}
		iv := Interval{Start: d.r.Start, End: d.r.End}
		if d.err == nil {
			stamp(iv.End, d.slow, "done")
		}
		if d.slow {
			run.Slow = iv
		} else {
			run.Fast = iv
		}
	}
	return run, firstErr
}

func eventLoopLanes(run EventLoopRun) []lane {
	return []lane{
		{Label: "slow", Start: run.Slow.Start, End: run.Slow.End, Note: ms(run.Slow.End - run.Slow.Start), Colour: ansiYellow},
		{Label: "fast", Start: run.Fast.Start, End: run.Fast.End, Note: ms(run.Fast.End - run.Fast.Start), Colour: ansiCyan},
	}
}

// eventLoopVerdict is the one line that says what happened and why.
func eventLoopVerdict(pal palette, run EventLoopRun, o Options) string {
	if run.Mode == "blocking" {
		if !run.FastFirst() {
			return pal.red("✗ fast finished last:") + fmt.Sprintf(" the slow request held the gateway's one lock through its\n  %s backend call, and the fast one waited behind it.\n  Like time.sleep() inside async def: one blocking call stalls everyone.", ms(o.Slow))
		}
		return pal.yellow("? fast finished first here:") + " it reached the lock before the slow request did."
	}
	if run.FastFirst() {
		return pal.green("✓ fast finished first:") + " while the slow request waits on its backend the gateway\n  holds nothing, so the fast one goes straight through."
	}
	return pal.yellow("? fast finished last here:") + " the machine is too busy for the gap between the requests to show."
}
