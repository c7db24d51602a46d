package harness

import (
	"context"
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

// mocks is a running mock backends process.
type mocks struct {
	proc *launch.Proc
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

func (m *mocks) stop() error { return m.proc.Stop(launch.DefaultGrace) }

// served returns how many requests each service has received so far, from
// GET /_admin/stats.
func (m *mocks) served(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, svc := range model.Services {
		var st struct {
			Requests int64 `json:"requests"`
		}
		if err := getJSON(ctx, "http://"+m.proc.Addr(svc)+"/_admin/stats", &st); err != nil {
			return nil, fmt.Errorf("stats of %s: %w", svc, err)
		}
		out[svc] = st.Requests
	}
	return out, nil
}

// setModel replaces one service's model, as PUT /_admin/config does.
func (m *mocks) setModel(ctx context.Context, svc string, s model.Service) error {
	return launch.SetModel(ctx, m.proc.Addr(svc), svc, s)
}

func getJSON(ctx context.Context, url string, v any) error { return launch.GetJSON(ctx, url, v) }

// startGateway starts one gateway in the variant's mode, pointed at the mocks.
func startGateway(ctx context.Context, bin string, s *scenario.Scenario, v scenario.Variant, m *mocks, logs io.Writer) (*launch.Proc, error) {
	return launch.StartGateway(ctx, bin, gatewaySpec(s, v), m.proc, logs)
}

// gatewaySpec is the gateway of variant v with the scenario's settings:
// one step's process, or each replica of a fleet scenario's step.
func gatewaySpec(s *scenario.Scenario, v scenario.Variant) launch.Gateway {
	var args []string
	g := s.Gateway
	if g.MaxConns > 0 {
		args = append(args, "-max-conns", strconv.Itoa(g.MaxConns))
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
