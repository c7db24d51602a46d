package launch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	// CPUs, if set, are the CPUs the gateway runs on, with GOMAXPROCS set
	// to their number (see Split); none: every CPU of the bench's.
	CPUs []int
}

// Flags returns the flags of g's settings as StartGateway passes them,
// after its own (addresses, backends, tokens): the mode, the pool size and
// Args. The bench checks them against the gateway's flags before it
// starts anything.
func (g Gateway) Flags() []string {
	var args []string
	if g.Mode != "" {
		args = append(args, "-mode", g.Mode)
	}
	if g.PoolSize > 0 {
		args = append(args, "-pool-size", strconv.Itoa(g.PoolSize))
	}
	return append(args, g.Args...)
}

// Token is the secret of the bench's token, which StartGateway gives every
// gateway it starts (unless Args names -tokens or -auth): every project,
// read-write, and a rate limit that no load reaches, so that the bench
// measures the cost of authentication and of the limiter, never a 429.
// It opens only gateways the bench starts on loopback ports.
const Token = "fanout-bench-token"

// Authorization is the Authorization header value of Token.
const Authorization = "Bearer " + Token

// HostileToken is the secret of a second tenant's token, which every
// gateway StartGateway starts holds beside Token, with the same rights: a
// scenario's hostile tenant (scenario.Hostile) sends with it, so that the
// gateway tells the two tenants apart as it would two customers.
const HostileToken = "fanout-bench-hostile-token"

// HostileAuthorization is the Authorization header value of HostileToken.
const HostileAuthorization = "Bearer " + HostileToken

// tokensFile is the tokens file of Token and HostileToken: each SHA-256,
// as the gateway wants it, is that of the secret (printf %s SECRET |
// sha256sum).
var tokensFile = "tokens:\n" + TokenEntry("bench", Token, Unlimited) + TokenEntry("hostile", HostileToken, Unlimited)

// Unlimited is a rate of TokenEntry that no load reaches.
const Unlimited = "{limit: 1000000000, per: 1s}"

// TokenEntry is the entry of a gateway's tokens file (under its "tokens:"
// line) for the token named name whose secret is secret: every project,
// read-write, and the rate limit rate ("{limit: 10, per: 1s}").
func TokenEntry(name, secret, rate string) string {
	return "  - name: " + name + "\n    sha256: " + sha256Hex(secret) +
		"\n    projects: all\n    access: read-write\n    rate: " + rate + "\n"
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// StartGateway starts the gateway binary on a free loopback port with every
// backend of model.Services pointed at mocks, without a per-address
// connection limit (g.Args may set one), and checks that it announced its
// public address as "gateway". logs is as for Start.
func StartGateway(ctx context.Context, bin string, g Gateway, mocks *Proc, logs io.Writer) (*Proc, error) {
	admin := "off"
	if g.Admin {
		admin = "127.0.0.1:0"
	}
	// The load comes from one address, this machine's: the per-address
	// connection limit of a public port would cap it.
	args := []string{"-addr", "127.0.0.1:0", "-admin-addr", admin, "-max-conns-per-ip", "0"}
	for _, svc := range model.Services {
		args = append(args, "-backend", svc+"="+mocks.Addrs[svc])
	}
	if !slices.ContainsFunc(g.Args, func(a string) bool {
		return strings.TrimLeft(a, "-") == "tokens" || strings.HasPrefix(strings.TrimLeft(a, "-"), "auth")
	}) {
		// The gateway reads its tokens before it announces itself, so
		// the file can go once Start returns.
		dir, err := os.MkdirTemp("", "fanout-tokens-")
		if err != nil {
			return nil, fmt.Errorf("start gateway: tokens file: %w", err)
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, "tokens.yaml")
		if err := os.WriteFile(file, []byte(tokensFile), 0o600); err != nil {
			return nil, fmt.Errorf("start gateway: tokens file: %w", err)
		}
		args = append(args, "-tokens", file)
	}
	p, err := startListening(ctx, bin, append(args, g.Flags()...), gomaxprocsEnv(g.CPUs), g.CPUs, logs)
	if err != nil {
		return nil, fmt.Errorf("start gateway in %s mode: %w", g.Mode, err)
	}
	if p.Addrs["gateway"] == "" {
		_ = p.Stop(DefaultGrace)
		return nil, fmt.Errorf("start gateway in %s mode: no gateway address on the first LISTEN line", g.Mode)
	}
	return p, nil
}
