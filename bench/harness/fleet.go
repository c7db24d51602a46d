package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"time"

	"fanout/bench/expect"
	"fanout/bench/fleet"
	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
	"fanout/mockbackends/model"
)

// FleetLimitedToken is the secret of a fleet step's limited token
// (scenario.FleetRateLimit), which the replicas hold beside launch.Token.
const FleetLimitedToken = "fanout-bench-fleet-limited-token"

// limitBurstPhase names the limited token's first stretch, before the
// measured attack starts: the time it takes to spend the token's burst,
// after which each phase admits what the limit allows. A scenario's phase
// cannot take the name: event names have no '-'.
const limitBurstPhase = "limit-burst"

// measureFleet runs one variant at one rate of a fleet scenario: a fresh
// fleet (bench/fleet) of the variant's gateways on the scenario's mocks,
// a warm-up through HAProxy, then the measured attack through it while the
// events play their actions on the fleet in turn, beside the limited token
// and the idempotent client of the fleet section. The CPU time is that of
// every replica process over the attack, summed, restarted ones included;
// the peak memory is the largest replica's.
func (r *runner) measureFleet(ctx context.Context, v scenario.Variant, rate float64, d time.Duration) error {
	s, fl := r.s, r.s.Fleet
	run := result.Run{Variant: v.Label, Mode: v.Mode, PoolSize: v.PoolSize, Rate: rate, Warmup: s.Load.Warmup,
		Fleet: &result.Fleet{Replicas: fl.Replicas, Sentinel: fl.Sentinel}}
	name := r.runName(v, rate, false)
	r.p.run(v.Label, rate, s.Load.Warmup, d)
	if err := r.restoreModels(ctx); err != nil {
		return err
	}
	logs, closeLog := r.logs("fleet-" + name)
	defer closeLog()
	tokens := []string{launch.TokenEntry("bench", launch.Token, launch.Unlimited)}
	if rl := fl.RateLimit; rl != nil {
		tokens = append(tokens, launch.TokenEntry("limited", FleetLimitedToken, fmt.Sprintf("{limit: %d, per: %s}", rl.Limit, rl.Per)))
		run.Fleet.Limit = rl.PerSecond()
	}
	f, err := fleet.Start(ctx, fleet.Options{
		Replicas: fl.Replicas, Sentinel: fl.Sentinel, DrainDelay: fl.DrainDelay, Tokens: tokens, Logs: logs,
		Mocks: r.mocks.proc, Bins: r.opts.Bins, Gateway: gatewaySpec(s, v),
		Progress: func(step string) { r.p.line("  fleet: " + step) },
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := f.Close(); err != nil {
			slog.Warn("stop fleet", "run", name, "err", err)
		}
	}()
	r.computeLimits()
	base := load.Attack{
		Name: name, BaseURL: f.URL(), Targets: s.Targets, Rate: rate,
		Timeout: s.Load.Timeout, Seed: s.Load.Seed, Authorization: launch.Authorization,
	}
	if err := r.warmUp(ctx, base); err != nil {
		return err
	}
	cpu0, err := fleetCPU(f.Gateways)
	if err != nil {
		return err
	}
	served0, err := r.mocks.served(ctx)
	if err != nil {
		slog.Warn("read backend stats", "err", err)
	}
	limited := r.startLimited(ctx, base, d, run.Fleet)
	play := &fleetPlay{r: r, f: f, out: run.Fleet, queue: make(chan int, len(s.Events)), done: make(chan struct{})}
	err = r.attackFleet(ctx, base, d, &run, play)
	limited()
	if err != nil {
		return err
	}
	// Every process that served the attack: those running at its start
	// (some replaced since, Retired), and those started during it, from
	// their start-up on.
	procs := append(slices.Clone(f.Gateways), f.Retired...)
	cpu1, err := fleetCPU(procs)
	if err != nil {
		return err
	}
	run.CPU = cpu1 - cpu0
	if run.Requests > 0 {
		run.CPUPerRequest = run.CPU / time.Duration(run.Requests)
	}
	for _, p := range procs {
		if rss, err := p.PeakRSS(); err == nil {
			run.PeakRSS = max(run.PeakRSS, rss)
		}
	}
	if served0 != nil {
		r.countBackendCalls(ctx, served0, &run)
	}
	for _, a := range run.Fleet.Actions {
		switch {
		case a.Error != "":
			r.res.Errors = append(r.res.Errors, fmt.Sprintf("%s: %s in phase %s: %s", name, a.Action, a.Phase, a.Error))
		case a.Overran:
			r.res.Errors = append(r.res.Errors, fmt.Sprintf("%s: %s ran %v, past the end of phase %s: lengthen the phase", name, a.Action, a.Took.Round(time.Millisecond), a.Phase))
		}
		r.p.line(fmt.Sprintf("  %s %s: %s", a.Phase, a.Action, strings.Join(a.Steps, ", ")))
	}
	r.res.Runs = append(r.res.Runs, run)
	r.p.figures(run, r.res.Limits)
	return nil
}

// fleetCPU sums the CPU time of the fleet's replica processes.
func fleetCPU(procs []*launch.Proc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		d, err := p.CPUTime()
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// attackFleet runs the measured attack of d through the fleet's balancer
// into the step's results file, with the scenario's events: each one's
// model or rate changes as in attack, and its fleet action queued to play.
func (r *runner) attackFleet(ctx context.Context, base load.Attack, d time.Duration, run *result.Run, play *fleetPlay) error {
	out, err := r.createResults(base.Name, run)
	if err != nil {
		return err
	}
	defer out.Close()
	a := base
	a.Duration, a.Out = d, out
	r.withEvents(ctx, &a)
	var phases *phaseCalls
	if at := a.At; at != nil {
		phases = newPhaseCalls(ctx, r.mocks, a.PhaseNames)
		a.At = func(i int) {
			phases.next(ctx)
			at(i)
			if r.s.Events[i].Fleet != "" {
				play.queue <- i
			}
		}
	}
	go play.run(ctx, time.Now())
	rep, err := load.Run(ctx, a)
	// The last action may go on past the attack (a restart after a
	// kill): it ends before the fleet stops.
	close(play.queue)
	<-play.done
	play.judge(r.s.Events, d)
	if phases != nil {
		phases.next(ctx)
		run.PhaseBackendCalls = phases.result()
	}
	return finishResults(ctx, out, base.Name, rep, err, run)
}

// startLimited offers the limited token of the fleet section, if any, to
// base's balancer at its rate, from before the measured attack of d (the
// time it takes to spend the token's burst) to its end, with the attack's
// phases; it returns once the burst is spent. The func it returns waits
// for the end and records the admissions of each phase in out.
func (r *runner) startLimited(ctx context.Context, base load.Attack, d time.Duration, out *result.Fleet) func() {
	rl := r.s.Fleet.RateLimit
	if rl == nil {
		return func() {}
	}
	// The burst (Limit requests) is spent at the offered rate less what
	// the limit admits meanwhile; a tenth of a second more for the first
	// requests' way through the balancer.
	burst := time.Duration(float64(rl.Limit)/(rl.Rate-rl.PerSecond())*float64(time.Second)) + 100*time.Millisecond
	names := append([]string{limitBurstPhase}, r.s.Phases()...)
	if len(names) == 1 {
		names = append(names, scenario.FirstPhase)
	}
	offsets := []time.Duration{burst}
	for _, e := range r.s.Events {
		offsets = append(offsets, burst+e.At)
	}
	a := load.Attack{
		Name: base.Name + "-limited", BaseURL: base.BaseURL, Targets: r.s.Targets, Rate: rl.Rate,
		Duration: burst + d, Timeout: base.Timeout, Seed: base.Seed + 3,
		Authorization: "Bearer " + FleetLimitedToken, Phases: offsets, PhaseNames: names,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, err := load.Run(ctx, a)
		if err != nil {
			slog.Warn("limited token", "err", err)
			return
		}
		out.Limited = map[string]result.FleetLimited{}
		for _, ph := range names[1:] {
			sum := rep.Phases[ph]
			admitted := 0
			for code, n := range sum.Codes {
				if c, err := strconv.Atoi(code); err == nil && c >= 200 && c <= 299 {
					admitted += n
				}
			}
			out.Limited[ph] = result.FleetLimited{Requests: sum.Requests, Admitted: admitted, Window: sum.Window}
		}
	}()
	select {
	case <-time.After(burst):
	case <-ctx.Done():
	}
	return func() { <-done }
}

// fleetPlay plays the fleet actions of a step's events, one after the
// other, in the order the attack reaches them: an action that takes long
// (a rolling restart) delays the next, and judge says so.
type fleetPlay struct {
	r     *runner
	f     *fleet.Fleet
	out   *result.Fleet
	queue chan int // indexes of the events whose action is due
	done  chan struct{}
}

// run plays each queued action until the queue is closed; start is the
// start of the attack.
func (p *fleetPlay) run(ctx context.Context, start time.Time) {
	defer close(p.done)
	for i := range p.queue {
		e := p.r.s.Events[i]
		a := result.FleetAction{Phase: e.Name, Action: e.Fleet, Start: time.Since(start)}
		t0 := time.Now()
		step := func(format string, args ...any) {
			a.Steps = append(a.Steps, fmt.Sprintf(format, args...)+" at +"+time.Since(t0).Round(10*time.Millisecond).String())
		}
		var err error
		switch e.Fleet {
		case scenario.FleetRollingRestart:
			err = p.rollingRestart(ctx, step)
		case scenario.FleetKill:
			err = p.kill(ctx, e, step)
		case scenario.FleetRedisFailover:
			if err = p.f.FailOver(ctx, 20*time.Second); err == nil {
				step("primary killed, replica promoted")
			}
		}
		a.Took = time.Since(t0)
		if err != nil {
			a.Error = err.Error()
		}
		p.out.Actions = append(p.out.Actions, a)
	}
}

// judge marks the actions that ran past their phase (into the next event's,
// or past the attack of d): their phase's figures do not cover them alone.
func (p *fleetPlay) judge(events []scenario.Event, d time.Duration) {
	for i := range p.out.Actions {
		a := &p.out.Actions[i]
		end := d
		for j, e := range events {
			if e.Name == a.Phase && j+1 < len(events) {
				end = events[j+1].At
			}
		}
		a.Overran = a.Start+a.Took > end
	}
}

// rollingRestart stops each replica with SIGTERM, waits for it to exit,
// starts it again and waits until HAProxy counts it up, then the next.
func (p *fleetPlay) rollingRestart(ctx context.Context, step func(string, ...any)) error {
	for i := range p.f.Gateways {
		if err := p.f.Stop(i); err != nil {
			return err
		}
		step("gw%d stopped", i+1)
		if err := p.f.Restart(ctx, i, fleet.DefaultUpWithin); err != nil {
			return err
		}
		step("gw%d up", i+1)
	}
	return nil
}

// kill kills the event's replica with SIGKILL, around the idempotent
// client's requests if the scenario has one, and starts it again after the
// event's restart_after.
func (p *fleetPlay) kill(ctx context.Context, e scenario.Event, step func(string, ...any)) error {
	i := e.Replica - 1
	idem := p.r.s.Fleet.Idempotency
	var client *idempotentClient
	if idem != nil {
		client = &idempotentClient{r: p.r, key: "bench-fleet-" + e.Name, timeout: p.r.s.Load.Timeout, out: &result.FleetIdempotency{Phase: e.Name}}
		p.out.Idempotency = client.out
		if err := client.begin(ctx); err != nil {
			return err
		}
		// The create goes to the replica that dies next, so that the
		// retries can only find its record in the shared store.
		client.post(ctx, "http://"+p.f.Gateways[i].Addrs["gateway"])
		step("created on gw%d", i+1)
	}
	if err := p.f.Kill(i); err != nil {
		return err
	}
	killed := time.Now()
	step("gw%d killed", i+1)
	if client != nil {
		for range idem.Retries {
			client.post(ctx, p.f.URL())
		}
		if err := client.end(ctx); err != nil {
			return err
		}
		step("%d retries", idem.Retries)
	}
	select {
	case <-time.After(time.Until(killed.Add(e.RestartAfter))):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.f.Restart(ctx, i, fleet.DefaultUpWithin); err != nil {
		return err
	}
	step("gw%d up", i+1)
	return nil
}

// idempotentClient creates one experiment with an Idempotency-Key and
// retries it, as a client that lost the first answer does, and counts the
// creates the experiments backend received meanwhile.
type idempotentClient struct {
	r       *runner
	key     string
	timeout time.Duration
	out     *result.FleetIdempotency
	creates int64 // the backend's count before the first request
	ids     map[string]bool
}

// idempotentBody is the create the client sends: a project the mocks
// know.
const idempotentBody = `{"project_id":"3","name":"fleet idempotency"}`

func (c *idempotentClient) begin(ctx context.Context) error {
	var err error
	c.ids = map[string]bool{}
	c.creates, err = c.r.mocks.routeRequests(ctx, model.ServiceExperiments, model.RouteCreateExperiment)
	return err
}

func (c *idempotentClient) end(ctx context.Context) error {
	n, err := c.r.mocks.routeRequests(ctx, model.ServiceExperiments, model.RouteCreateExperiment)
	if err != nil {
		return err
	}
	c.out.Creates = n - c.creates
	c.out.IDs = slices.Sorted(maps.Keys(c.ids))
	return nil
}

// post sends the create to base with the client's key, on a connection
// of its own, and records the answer.
func (c *idempotentClient) post(ctx context.Context, base string) {
	status, err := func() (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/experiments", strings.NewReader(idempotentBody))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", launch.Authorization)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", c.key)
		client := &http.Client{Timeout: c.timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resp.StatusCode, err
		}
		var created struct {
			ID string `json:"id"`
		}
		if resp.StatusCode/100 == 2 && json.Unmarshal(b, &created) == nil && created.ID != "" {
			c.ids[created.ID] = true
		}
		if resp.Header.Get("Idempotent-Replayed") == "true" {
			c.out.Replayed++
		}
		return resp.StatusCode, nil
	}()
	c.out.Statuses = append(c.out.Statuses, status)
	if err != nil && len(c.out.Errors) < 5 {
		c.out.Errors = append(c.out.Errors, err.Error())
	}
}

// routeRequests returns how many requests one route of a service has
// received so far, from GET /_admin/stats.
func (m *mocks) routeRequests(ctx context.Context, svc, route string) (int64, error) {
	st, err := launch.MockStats(ctx, m.proc.Addr(svc))
	if err != nil {
		return 0, fmt.Errorf("stats of %s: %w", svc, err)
	}
	rt, ok := st.Routes[route]
	if !ok {
		return 0, fmt.Errorf("stats of %s: no route %s", svc, route)
	}
	return rt.Requests, nil
}

// fleetMetric resolves a metric of scenario.FleetMetrics over a run of a
// fleet scenario, or over one phase of it (n has three parts).
func fleetMetric(run *result.Run, n expect.Name, metric string) (float64, error) {
	fl := run.Fleet
	if fl == nil {
		return 0, fmt.Errorf("%s: the run has no fleet", n)
	}
	phase := ""
	if len(n.Parts) == 3 {
		phase = n.Parts[1]
	}
	switch metric {
	case "limit_ratio", "limit_admitted":
		if fl.Limited == nil || fl.Limit <= 0 {
			return 0, fmt.Errorf("%s: the limited token was not measured", n)
		}
		var all result.FleetLimited
		for ph, l := range fl.Limited {
			if phase == "" || ph == phase {
				all.Requests += l.Requests
				all.Admitted += l.Admitted
				all.Window += l.Window
			}
		}
		if all.Window <= 0 {
			return 0, fmt.Errorf("%s: the limited token sent nothing there", n)
		}
		if metric == "limit_admitted" {
			return all.AdmittedRate(), nil
		}
		return all.AdmittedRate() / fl.Limit, nil
	}
	idem := fl.Idempotency
	switch {
	case idem == nil:
		return 0, fmt.Errorf("%s: the idempotent client did not run", n)
	case phase != "" && phase != idem.Phase:
		return 0, fmt.Errorf("%s: the idempotent client ran in phase %s", n, idem.Phase)
	}
	switch metric {
	case "idempotent_creates":
		return float64(idem.Creates), nil
	case "idempotent_ids":
		return float64(len(idem.IDs)), nil
	case "idempotent_failures":
		return float64(idem.Failures()), nil
	}
	return 0, fmt.Errorf("%s: unknown metric", n)
}
