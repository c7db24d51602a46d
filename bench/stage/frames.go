package stage

import (
	"context"
	"time"

	"fanout/bench/launch"
	"fanout/bench/servertiming"
	"fanout/mockbackends/model"
)

// Frame is what the charts show at one tick. Latencies are in
// milliseconds; a figure that could not be read is absent (null).
type Frame struct {
	T    float64 `json:"t"` // seconds since the stage started
	Mode string  `json:"mode"`
	// Offered is the rate the load offers; Complete, Partial and Failed
	// are the answers per second of the last second by kind.
	Offered  float64 `json:"offered"`
	Complete float64 `json:"complete"`
	Partial  float64 `json:"partial"`
	Failed   float64 `json:"failed"`
	// P50 and P99 are over the answers of the sliding window (Samples of
	// them); null without any.
	P50     *float64 `json:"p50"`
	P99     *float64 `json:"p99"`
	Samples int      `json:"samples"`
	Limits  Limits   `json:"limits"`
	// GatewayInFlight is the gateway's fanout_requests_in_flight;
	// Backends the requests each mock service is serving.
	GatewayInFlight *float64           `json:"gateway_in_flight"`
	Backends        map[string]float64 `json:"backends"`
	// Policies are the gateway's policy counters as rates per second:
	// hedges, shed, breaker_refused, coalesced.
	Policies map[string]float64 `json:"policies"`
	// Waterfall is the latest successful request's Server-Timing.
	Waterfall *Waterfall `json:"waterfall,omitempty"`
}

// Waterfall is one request's backend calls as its Server-Timing tells them.
type Waterfall struct {
	Calls []Call  `json:"calls"`
	Total float64 `json:"total"` // ms
}

// Call is one bar of the waterfall, in milliseconds from the request's start.
type Call struct {
	Name     string  `json:"name"`
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
}

// waterfallOf parses a Server-Timing header; nil if there is none or it
// does not parse (the frame then keeps no waterfall rather than fail).
func waterfallOf(header string) *Waterfall {
	if header == "" {
		return nil
	}
	t, err := servertiming.Parse(header)
	if err != nil || len(t.Calls) == 0 {
		return nil
	}
	w := &Waterfall{Total: msf(t.Total)}
	for _, c := range t.Calls {
		w.Calls = append(w.Calls, Call{Name: c.Name, Start: msf(c.Start), Duration: msf(c.Duration)})
	}
	return w
}

// tick makes a frame every Tick until the stage stops, keeps it in the
// history and sends it to the pages.
func (s *Stage) tick(ctx context.Context) {
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	var rates counterRates
	want := map[string]bool{metricInFlight: true}
	for _, m := range policyCounters {
		want[m] = true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f := s.frame(now, &rates, want)
			s.mu.Lock()
			if len(s.frames) >= history {
				s.frames = append(s.frames[:0], s.frames[len(s.frames)-history+1:]...)
			}
			s.frames = append(s.frames, f)
			s.mu.Unlock()
			s.hub.send("frame", f)
		}
	}
}

// frame reads the load's window, the gateway's metrics and the mocks'
// stats at now.
func (s *Stage) frame(now time.Time, rates *counterRates, want map[string]bool) Frame {
	fig := s.win.figures(now)
	s.mu.Lock()
	f := Frame{
		T: now.Sub(s.start).Seconds(), Mode: s.settings.Label(), Offered: s.load.Rate(),
		Complete: fig.Complete, Partial: fig.Partial, Failed: fig.Failed,
		Samples: fig.Samples, Limits: s.lim, Backends: map[string]float64{},
		Waterfall: waterfallOf(fig.Timing),
	}
	admin := s.admin
	s.mu.Unlock()
	if fig.Samples > 0 {
		p50, p99 := msf(fig.P50), msf(fig.P99)
		f.P50, f.P99 = &p50, &p99
	}
	// Each read gets what is left of the tick, so a frame is never late
	// by more than one tick; a figure that did not come is left out.
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Tick)
	defer cancel()
	if admin != "" {
		if series, err := launch.ReadMetrics(ctx, "http://"+admin+"/metrics", func(name string) bool { return want[name] }); err == nil {
			m := series.Sums()
			if v, ok := m[metricInFlight]; ok {
				f.GatewayInFlight = &v
			}
			f.Policies = rates.rates(now, m)
		}
	}
	for _, svc := range model.Services {
		if st, err := launch.MockStats(ctx, s.mocks.Addrs[svc]); err == nil {
			f.Backends[svc] = float64(st.InFlight)
		}
	}
	return f
}
