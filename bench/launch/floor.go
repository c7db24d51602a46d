package launch

import (
	"context"
	"fmt"
	"io"

	"fanout/mockbackends/model"
)

// FloorPackage is the package of the bench's CPU floor, a bare fan-out of
// the results page, as Build takes it.
const FloorPackage = "./bench/floor"

// FloorMallocsPath is where the floor answers its heap allocations so far,
// as a decimal number (the gateway's are go_memstats_mallocs_total on its
// /metrics).
const FloorMallocsPath = "/debug/mallocs"

// StartFloor starts the floor binary on a free loopback port with every
// backend of model.Services pointed at mocks, and flags (such as -sockets
// net), and checks that it announced its address as "floor". logs is as
// for Start.
func StartFloor(ctx context.Context, bin string, mocks *Proc, logs io.Writer, flags ...string) (*Proc, error) {
	return StartFloorOn(ctx, bin, mocks, nil, logs, flags...)
}

// StartFloorOn is StartFloor on cpus, with GOMAXPROCS set to their number,
// as a gateway of Gateway.CPUs runs: the floor is the gateway's yardstick,
// and runs where it does (none: every CPU of the bench's).
func StartFloorOn(ctx context.Context, bin string, mocks *Proc, cpus []int, logs io.Writer, flags ...string) (*Proc, error) {
	args := append([]string{"-addr", "127.0.0.1:0"}, flags...)
	for _, svc := range model.Services {
		args = append(args, "-backend", svc+"="+mocks.Addrs[svc])
	}
	p, err := startListening(ctx, bin, args, gomaxprocsEnv(cpus), cpus, logs)
	if err != nil {
		return nil, fmt.Errorf("start the floor: %w", err)
	}
	if p.Addrs["floor"] == "" {
		_ = p.Stop(DefaultGrace)
		return nil, fmt.Errorf("start the floor: no floor address on the LISTEN line")
	}
	return p, nil
}
