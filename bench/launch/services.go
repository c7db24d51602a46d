package launch

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"fanout/mockbackends/model"
)

// Packages of the project's two programs, as Build takes them.
const (
	GatewayPackage = "./gateway"
	MocksPackage   = "./mockbackends"
)

// Binaries are the paths of the built gateway and mock backends.
type Binaries struct {
	Gateway, Mocks string
}

// Build builds each program whose path is empty (Build caches binaries by
// content, so this is cheap on an unchanged tree) and returns the paths.
func (b Binaries) Build(ctx context.Context) (Binaries, error) {
	var err error
	if b.Gateway == "" {
		if b.Gateway, err = Build(ctx, GatewayPackage); err != nil {
			return b, err
		}
	}
	if b.Mocks == "" {
		if b.Mocks, err = Build(ctx, MocksPackage); err != nil {
			return b, err
		}
	}
	return b, nil
}

// StartMocks starts the mock backends binary with every service of
// model.Services on a free loopback port, followed by args (models, seed,
// log level), and checks that each service announced its address. logs is
// as for Start.
func StartMocks(ctx context.Context, bin string, args []string, logs io.Writer) (*Proc, error) {
	all := make([]string, 0, 2*len(model.Services)+len(args))
	for _, svc := range model.Services {
		all = append(all, "-"+svc+"-addr", "127.0.0.1:0")
	}
	p, err := Start(ctx, bin, append(all, args...), logs)
	if err != nil {
		return nil, fmt.Errorf("start mock backends: %w", err)
	}
	for _, svc := range model.Services {
		if p.Addrs[svc] == "" {
			_ = p.Stop(DefaultGrace)
			return nil, fmt.Errorf("start mock backends: no address for %s on the LISTEN line", svc)
		}
	}
	return p, nil
}

// Gateway describes one gateway process pointed at running mock backends.
type Gateway struct {
	// Mode is the fan-out mode ("" leaves the gateway's default).
	Mode string
	// PoolSize is the pool's size in mode pool (0 leaves the default).
	PoolSize int
	// Admin serves the admin listener (/metrics) on a free port, announced
	// as "admin" (see Proc.Addr); false turns it off.
	Admin bool
	// Args are further flags, appended last.
	Args []string
}

// StartGateway starts the gateway binary on a free loopback port with every
// backend of model.Services pointed at mocks, and checks that it announced
// its public address as "gateway". logs is as for Start.
func StartGateway(ctx context.Context, bin string, g Gateway, mocks *Proc, logs io.Writer) (*Proc, error) {
	admin := "off"
	if g.Admin {
		admin = "127.0.0.1:0"
	}
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", admin}
	if g.Mode != "" {
		args = append(args, "-mode", g.Mode)
	}
	if g.PoolSize > 0 {
		args = append(args, "-pool-size", strconv.Itoa(g.PoolSize))
	}
	for _, svc := range model.Services {
		args = append(args, "-backend", svc+"="+mocks.Addrs[svc])
	}
	p, err := Start(ctx, bin, append(args, g.Args...), logs)
	if err != nil {
		return nil, fmt.Errorf("start gateway in %s mode: %w", g.Mode, err)
	}
	if p.Addrs["gateway"] == "" {
		_ = p.Stop(DefaultGrace)
		return nil, fmt.Errorf("start gateway in %s mode: no gateway address on the first LISTEN line", g.Mode)
	}
	return p, nil
}
