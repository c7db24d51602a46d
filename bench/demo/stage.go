package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"fanout/bench/launch"
	"fanout/bench/servertiming"
	"fanout/mockbackends/model"
)

// stopGrace bounds how long a stopped gateway may take to finish what it
// still has in flight (an overloaded blocking gateway has a queue).
const stopGrace = 3 * time.Second

// stage is one act's set of processes: the mock backends and one gateway per
// mode, each on its own port so that modes can be compared side by side.
type stage struct {
	mocks    *launch.Proc
	gateways map[string]*launch.Proc // by mode
	client   *http.Client
}

// startStage starts the mock backends with mockArgs and a gateway per spec.
// Processes' standard error goes to logs (nil: discarded, but quoted in
// start errors). The caller must call stop.
func startStage(ctx context.Context, bins launch.Binaries, logs io.Writer, mockArgs []string, specs []launch.Gateway) (*stage, error) {
	mocks, err := launch.StartMocks(ctx, bins.Mocks, mockArgs, logs)
	if err != nil {
		return nil, err
	}
	s := &stage{
		mocks:    mocks,
		gateways: map[string]*launch.Proc{},
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true},
		},
	}
	// Gateways start in parallel: each waits only for its own LISTEN line.
	type started struct {
		mode string
		proc *launch.Proc
		err  error
	}
	ch := make(chan started, len(specs))
	for _, sp := range specs {
		// The demo shows what blocking, pools and overload do to a
		// gateway; shedding the excess would hide it.
		sp.Args = append(slices.Clone(sp.Args), "-overload", "off")
		go func() {
			p, err := launch.StartGateway(ctx, bins.Gateway, sp, mocks, logs)
			ch <- started{sp.Mode, p, err}
		}()
	}
	var firstErr error
	for range specs {
		st := <-ch
		if st.err != nil {
			firstErr = st.err
			continue
		}
		s.gateways[st.mode] = st.proc
	}
	if firstErr != nil {
		s.stop()
		return nil, firstErr
	}
	return s, nil
}

// startResultsStage starts a stage with the default models and a gateway
// per spec, one of them concurrent, and computes the limits of the results
// route under those models from the plan the gateway runs. The caller must call stop.
func (p *player) startResultsStage(ctx context.Context, specs []launch.Gateway) (*stage, Limits, error) {
	st, err := startStage(ctx, p.bins, p.logs, nil, specs)
	if err != nil {
		return nil, Limits{}, err
	}
	lim, err := routeLimits(resultsRoute, model.Default())
	if err != nil {
		st.stop()
		return nil, Limits{}, err
	}
	return st, lim, nil
}

// url returns the address of path on the gateway of mode.
func (s *stage) url(mode, path string) string {
	return "http://" + s.gateways[mode].Addrs["gateway"] + path
}

// stop stops every process of the stage, gateways first.
func (s *stage) stop() {
	var wg sync.WaitGroup
	for _, g := range s.gateways {
		wg.Go(func() { _ = g.Stop(stopGrace) })
	}
	wg.Wait()
	_ = s.mocks.Stop(stopGrace)
	if t, ok := s.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// response is what the acts keep of one public request.
type response struct {
	Status int
	Timing servertiming.Timing
	// ServerTiming is the raw header, as a client sees it.
	ServerTiming string
	// Start and End are offsets from a moment the caller chose.
	Start, End time.Duration
}

// get sends one GET to the gateway of mode and reads the whole response.
// t0 is the moment Start and End are measured from.
func (s *stage) get(ctx context.Context, mode, path string, t0 time.Time) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(mode, path), nil)
	if err != nil {
		return response{}, fmt.Errorf("GET %s (%s): %w", path, mode, err)
	}
	req.Header.Set("Authorization", launch.Authorization)
	r := response{Start: time.Since(t0)}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s (%s): %w", path, mode, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r.End = time.Since(t0)
	if err != nil {
		return response{}, fmt.Errorf("GET %s (%s): read body: %w", path, mode, err)
	}
	r.Status = resp.StatusCode
	if r.Status != http.StatusOK {
		return r, fmt.Errorf("GET %s (%s): status %d", path, mode, r.Status)
	}
	r.ServerTiming = strings.Join(resp.Header.Values("Server-Timing"), ", ")
	if r.Timing, err = servertiming.Parse(resp.Header.Values("Server-Timing")...); err != nil {
		return r, fmt.Errorf("GET %s (%s): %w", path, mode, err)
	}
	return r, nil
}

// warm sends one request per gateway, all at once, so that connections
// (client to gateway, gateway to backends) exist before anything is timed.
func (s *stage) warm(ctx context.Context, path string) error {
	errs := make(chan error, len(s.gateways))
	for mode := range s.gateways {
		go func() {
			_, err := s.get(ctx, mode, path, time.Now())
			errs <- err
		}()
	}
	var first error
	for range s.gateways {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("warm up: %w", err)
		}
	}
	return first
}

// waitInFlight polls a mock service's stats until a request to route is
// being served, or until limit. It is best effort: if the stats cannot be
// read it returns at once and the caller relies on timing alone.
func (s *stage) waitInFlight(ctx context.Context, service, route string, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) && ctx.Err() == nil {
		stats, err := launch.MockStats(ctx, s.mocks.Addrs[service])
		if err != nil {
			return
		}
		if stats.Routes[route].InFlight > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
