package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"fanout/bench/launch"
	"fanout/bench/scenario"
	"fanout/mockbackends/model"
)

// httpClient talks to the admin APIs.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// mocks are the running mock backends: a process the harness started, or,
// against a gateway it did not start (Options.Target), mocks elsewhere
// that it reaches through their admin API. A nil *mocks is none known:
// its methods fail with errNoMocks.
type mocks struct {
	// proc is the mocks' process, nil for mocks elsewhere.
	proc *launch.Proc
	// addrs maps each service to its address (host:port), where it
	// serves its admin API too.
	addrs map[string]string
}

// errNoMocks is the error of a *mocks that is nil: bench ran against a
// gateway it did not start, without the mocks' admin addresses.
var errNoMocks = errors.New("no mock backends known (bench -target without -mock-admin)")

// addr returns the address of service svc.
func (m *mocks) addr(svc string) string {
	if m.proc != nil {
		return m.proc.Addr(svc)
	}
	return m.addrs[svc]
}

// startMocks starts the mock backends with the scenario's models and seed,
// each service on a free port.
func startMocks(ctx context.Context, bin string, s *scenario.Scenario, seed uint64, dir string, logs io.Writer) (*mocks, error) {
	args := []string{"-seed", strconv.FormatUint(seed, 10)}
	if len(s.Backends) > 0 {
		b, err := yaml.Marshal(map[string]model.Config{"backends": s.Backends})
		if err != nil {
			return nil, fmt.Errorf("start mocks: encode models: %w", err)
		}
		file := filepath.Join(dir, "backends.yaml")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return nil, fmt.Errorf("start mocks: %w", err)
		}
		args = append(args, "-config", file)
	}
	p, err := launch.StartMocks(ctx, bin, args, logs)
	if err != nil {
		return nil, err
	}
	return &mocks{proc: p}, nil
}

// stop stops the mocks' process, if the harness started one.
func (m *mocks) stop() error {
	if m == nil || m.proc == nil {
		return nil
	}
	return m.proc.Stop(launch.DefaultGrace)
}

// served returns how many requests each service has received so far, from
// GET /_admin/stats.
func (m *mocks) served(ctx context.Context) (map[string]int64, error) {
	if m == nil {
		return nil, errNoMocks
	}
	out := map[string]int64{}
	for _, svc := range model.Services {
		if m.addr(svc) == "" {
			continue // a service whose mock is not known
		}
		st, err := launch.MockStats(ctx, m.addr(svc))
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", svc, err)
		}
		out[svc] = st.Requests
	}
	return out, nil
}

// setModel replaces one service's model, as PUT /_admin/config does.
func (m *mocks) setModel(ctx context.Context, svc string, s model.Service) error {
	if m == nil || m.addr(svc) == "" {
		return fmt.Errorf("set model of %s: %w", svc, errNoMocks)
	}
	return launch.SetModel(ctx, m.addr(svc), svc, s)
}

// startGateway starts one gateway in the variant's mode, pointed at the
// mocks, on cpus (none: every CPU).
func startGateway(ctx context.Context, bin string, s *scenario.Scenario, v scenario.Variant, m *mocks, cpus []int, logs io.Writer) (*launch.Proc, error) {
	g := gatewaySpec(s, v)
	g.CPUs = cpus
	return launch.StartGateway(ctx, bin, g, m.proc, logs)
}

// gatewaySpec is the gateway of variant v with the scenario's settings:
// one step's process, or each replica of a fleet scenario's step.
func gatewaySpec(s *scenario.Scenario, v scenario.Variant) launch.Gateway {
	var args []string
	g := s.Gateway
	if g.MaxConns > 0 {
		args = append(args, "-max-backend-conns", strconv.Itoa(g.MaxConns))
	}
	if g.Deadline > 0 {
		args = append(args, "-deadline", g.Deadline.String())
	}
	if g.BackendTimeout > 0 {
		args = append(args, "-backend-timeout", g.BackendTimeout.String())
	}
	if g.OverloadOff {
		args = append(args, "-overload", "off")
	}
	if g.Breaker {
		args = append(args, "-breaker", "on")
	}
	// The admin listener serves /metrics, which the sampler reads.
	return launch.Gateway{
		Mode: v.Mode, PoolSize: v.PoolSize, Admin: true,
		Args: append(append(args, "-log-level", "warn"), v.Args...),
	}
}
