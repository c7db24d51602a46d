// Package fleet runs a fleet of Fanout gateways on loopback as an operator
// runs one: a redis-server that the replicas share (-redis), or with
// Options.Sentinel a primary, its replica and three redis-sentinel, the
// mock backends, N gateway replicas, and HAProxy in front of them with the
// repository's deploy/haproxy/haproxy.cfg, the file that is shipped.
// `bench fleet` (make fleet) and the fleet's test start it through Start,
// so the configuration that the test proves is the one users run.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"fanout/bench/launch"

	"github.com/redis/go-redis/v9"
)

// DefaultReplicas is the number of gateways of a fleet (make fleet's FLEET).
const DefaultReplicas = 3

// DefaultDrainDelay is each replica's -drain-delay: HAProxy's checks (every
// 500ms, every 200ms while a state changes, two failures) take a draining
// replica out within about 700ms, so 2s leaves room on a busy machine.
const DefaultDrainDelay = 2 * time.Second

// ConfigFile is the HAProxy configuration, relative to the repository's
// root.
const ConfigFile = "deploy/haproxy/haproxy.cfg"

// AddrEnv is the environment variable that ConfigFile's bind line expands.
const AddrEnv = "FANOUT_LB_ADDR"

// Options describe a fleet. The zero value is a fleet of DefaultReplicas
// on free ports, with launch's bench tokens.
type Options struct {
	// Replicas is the number of gateways (DefaultReplicas if 0).
	Replicas int
	// Addr is HAProxy's public address (a free 127.0.0.1 port if empty).
	Addr string
	// Tokens are the entries of the gateways' tokens file
	// (launch.TokenEntry). None: launch's bench tokens.
	Tokens []string
	// DrainDelay is each gateway's -drain-delay (DefaultDrainDelay if 0).
	DrainDelay time.Duration
	// Logs receives every process's standard error. If nil, it is
	// discarded (each start error still quotes the end of it).
	Logs io.Writer
	// Progress, if not nil, is told of each step as it starts.
	Progress func(step string)
	// Sentinel makes Redis highly available: a replica of the primary and
	// three redis-sentinel that promote it when the primary fails, and
	// the gateways find the primary through them (a Sentinel -redis URL).
	Sentinel bool
	// Mocks, if not nil, are mock backends already running (the bench's,
	// with a scenario's models), which the fleet uses and does not stop.
	// If nil, the fleet starts its own with the mocks' defaults.
	Mocks *launch.Proc
	// Bins are the binaries to run; an empty path builds that program.
	Bins launch.Binaries
	// Gateway is each replica's mode, pool size and further flags (a
	// scenario's variant); the fleet adds -redis, -drain-delay, the admin
	// listener and the tokens.
	Gateway launch.Gateway
}

// MasterName is the name under which a Sentinel fleet's sentinels watch
// its primary.
const MasterName = "fanout"

// SentinelDownAfter is how long a Sentinel fleet's sentinels wait on a
// primary that does not answer before they judge it down
// (down-after-milliseconds): a failover then takes a few seconds, as on a
// production set-up tuned for it, not the default thirty and more.
const SentinelDownAfter = 500 * time.Millisecond

// Fleet is a running fleet. Close stops it.
type Fleet struct {
	// Redis, Mocks and HAProxy are the fleet's shared processes. Redis is
	// the primary of a Sentinel fleet.
	Redis, Mocks, HAProxy *launch.Proc
	// RedisReplica and Sentinels are a Sentinel fleet's (Options.Sentinel)
	// replica of Redis and its three sentinels; nil otherwise.
	RedisReplica *launch.Proc
	Sentinels    []*launch.Proc
	// Gateways are the replicas, in the order of their server lines
	// (gw1, gw2, ...).
	Gateways []*launch.Proc
	// Retired are the processes of replicas that Restart replaced, in
	// order: their CPU time and memory still count for the fleet.
	Retired []*launch.Proc

	dir        string // holds the tokens file and HAProxy's server lines
	drainDelay time.Duration
	ownMocks   bool // the fleet started Mocks, and stops them

	// What a replica is started with, to start it again (Restart).
	gatewayBin string
	gateway    launch.Gateway
	logs       io.Writer
}

// Binary returns the path of the program name (haproxy, redis-server), or
// an error that says how to install it: a fleet cannot run without it.
// Debian installs haproxy in /usr/sbin, which a user's PATH often lacks,
// so the sbin directories are tried after PATH.
func Binary(name string) (string, error) {
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin, nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin"} {
		if st, serr := os.Stat(filepath.Join(dir, name)); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return filepath.Join(dir, name), nil
		}
	}
	return "", fmt.Errorf("%s not found (%v, nor in /usr/local/sbin or /usr/sbin): install it, e.g. apt-get install -y %s", name, err, name)
}

// Start builds the gateway and the mock backends and starts the fleet:
// Redis (with Options.Sentinel, its replica and sentinels too, until they
// know each other), the mocks, the replicas (each with -redis, an admin
// listener and the drain delay), then HAProxy once `haproxy -c` accepts the rendered
// configuration. It returns when HAProxy listens; a replica counts as up
// for HAProxy from the start, and its checks confirm it within a second.
// On an error, whatever was started is stopped. ctx bounds the start and
// the life of every process.
func Start(ctx context.Context, o Options) (f *Fleet, err error) {
	if o.Replicas <= 0 {
		o.Replicas = DefaultReplicas
	}
	if o.DrainDelay <= 0 {
		o.DrainDelay = DefaultDrainDelay
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	haproxy, err := Binary("haproxy")
	if err != nil {
		return nil, err
	}
	redisServer, err := Binary("redis-server")
	if err != nil {
		return nil, err
	}
	root, err := launch.ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	bins := o.Bins
	if bins.Gateway == "" {
		progress("building the gateway")
		if bins.Gateway, err = launch.Build(ctx, launch.GatewayPackage); err != nil {
			return nil, err
		}
	}
	if bins.Mocks == "" && o.Mocks == nil {
		progress("building the mock backends")
		if bins.Mocks, err = launch.Build(ctx, launch.MocksPackage); err != nil {
			return nil, err
		}
	}
	f = &Fleet{drainDelay: o.DrainDelay, gatewayBin: bins.Gateway, logs: o.Logs}
	if f.dir, err = os.MkdirTemp("", "fanout-fleet-"); err != nil {
		return nil, fmt.Errorf("start fleet: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			f = nil
		}
	}()

	progress("starting redis-server")
	f.Redis, err = onFreePort(func(addr string) (*launch.Proc, error) {
		_, port, _ := net.SplitHostPort(addr)
		return launch.StartServing(ctx, redisServer, []string{"--port", port, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", f.dir}, nil, "redis", addr, o.Logs)
	})
	if err != nil {
		return nil, fmt.Errorf("start fleet: redis-server: %w", err)
	}
	if o.Sentinel {
		if err := f.startSentinels(ctx, redisServer, o.Logs, progress); err != nil {
			return nil, fmt.Errorf("start fleet: %w", err)
		}
	}
	if f.Mocks = o.Mocks; f.Mocks == nil {
		progress("starting the mock backends")
		if f.Mocks, err = launch.StartMocks(ctx, bins.Mocks, nil, o.Logs); err != nil {
			return nil, fmt.Errorf("start fleet: %w", err)
		}
		f.ownMocks = true
	}
	args := []string{"-redis", f.RedisURL(),
		"-drain-delay", o.DrainDelay.String(), "-log-level", "warn"}
	if len(o.Tokens) > 0 {
		tokens := filepath.Join(f.dir, "tokens.yaml")
		if err := os.WriteFile(tokens, []byte("tokens:\n"+strings.Join(o.Tokens, "")), 0o600); err != nil {
			return nil, fmt.Errorf("start fleet: tokens file: %w", err)
		}
		args = append(args, "-tokens", tokens)
	}
	// The fleet's flags come first, so that a scenario's own (o.Gateway's)
	// may override them; Restart appends the replica's addresses last.
	f.gateway = o.Gateway
	f.gateway.Admin = true
	f.gateway.Args = append(args, o.Gateway.Args...)
	for i := range o.Replicas {
		progress(fmt.Sprintf("starting gateway %d of %d", i+1, o.Replicas))
		gw, err := launch.StartGateway(ctx, bins.Gateway, f.gateway, f.Mocks, o.Logs)
		if err != nil {
			return nil, fmt.Errorf("start fleet: gateway %d: %w", i+1, err)
		}
		f.Gateways = append(f.Gateways, gw)
	}
	servers, err := f.writeServers()
	if err != nil {
		return nil, err
	}

	progress("starting HAProxy")
	cfg := filepath.Join(root, ConfigFile)
	start := func(addr string) (*launch.Proc, error) {
		env := []string{AddrEnv + "=" + addr}
		if err := Check(ctx, haproxy, cfg, servers, env); err != nil {
			return nil, err
		}
		// -db: in the foreground, a child of this process, stopped by
		// SIGTERM like the others.
		return launch.StartServing(ctx, haproxy, []string{"-db", "-f", cfg, "-f", servers}, env, "haproxy", addr, o.Logs)
	}
	if o.Addr != "" {
		f.HAProxy, err = start(o.Addr)
	} else {
		f.HAProxy, err = onFreePort(start)
	}
	if err != nil {
		return nil, fmt.Errorf("start fleet: haproxy: %w", err)
	}
	return f, nil
}

// RedisURL is the gateways' -redis: the primary's URL, or for a Sentinel
// fleet the sentinels' in go-redis's form (the first sentinel, the others
// as addr parameters, and the primary's name).
func (f *Fleet) RedisURL() string {
	if len(f.Sentinels) == 0 {
		return "redis://" + f.Redis.Addrs["redis"] + "/0"
	}
	q := url.Values{"master_name": {MasterName}}
	for _, s := range f.Sentinels[1:] {
		q.Add("addr", s.Addrs["sentinel"])
	}
	return "redis://" + f.Sentinels[0].Addrs["sentinel"] + "/0?" + q.Encode()
}

// startSentinels starts a replica of the fleet's Redis and three
// redis-sentinel watching the primary, each with its configuration file
// in the fleet's directory (a sentinel rewrites it as it learns), and
// waits until each sentinel knows the replica and the two others, so
// that a failover can be agreed on from the start.
func (f *Fleet) startSentinels(ctx context.Context, redisServer string, logs io.Writer, progress func(string)) error {
	sentinel, err := Binary("redis-sentinel")
	if err != nil {
		return err
	}
	progress("starting a replica of redis-server and three redis-sentinel")
	_, primaryPort, _ := net.SplitHostPort(f.Redis.Addrs["redis"])
	replicaDir := filepath.Join(f.dir, "replica")
	if err := os.Mkdir(replicaDir, 0o700); err != nil {
		return err
	}
	f.RedisReplica, err = onFreePort(func(addr string) (*launch.Proc, error) {
		_, port, _ := net.SplitHostPort(addr)
		return launch.StartServing(ctx, redisServer, []string{"--port", port, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", replicaDir,
			"--replicaof", "127.0.0.1", primaryPort}, nil, "redis", addr, logs)
	})
	if err != nil {
		return fmt.Errorf("redis replica: %w", err)
	}
	for i := range 3 {
		s, err := onFreePort(func(addr string) (*launch.Proc, error) {
			_, port, _ := net.SplitHostPort(addr)
			conf := filepath.Join(f.dir, fmt.Sprintf("sentinel-%d.conf", i+1))
			text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s 127.0.0.1 %s 2\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s 5000\n",
				port, f.dir, MasterName, primaryPort, MasterName, SentinelDownAfter.Milliseconds(), MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			return launch.StartServing(ctx, sentinel, []string{conf}, nil, "sentinel", addr, logs)
		})
		if err != nil {
			return fmt.Errorf("redis-sentinel %d: %w", i+1, err)
		}
		f.Sentinels = append(f.Sentinels, s)
	}
	return f.waitAcquainted(ctx, 15*time.Second)
}

// waitAcquainted waits, at most within, until each sentinel knows the
// replica and the other sentinels (they meet through the primary every
// 2 s).
func (f *Fleet) waitAcquainted(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, s := range f.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addrs["sentinel"]})
		for {
			others, err1 := c.Sentinels(ctx, MasterName).Result()
			replicas, err2 := c.Replicas(ctx, MasterName).Result()
			if err1 == nil && err2 == nil && len(others) == len(f.Sentinels)-1 && len(replicas) == 1 {
				break
			}
			select {
			case <-ctx.Done():
				c.Close()
				return fmt.Errorf("sentinel %s knows %d sentinels (%v) and %d replicas (%v) after %v, want %d and 1",
					s.Addrs["sentinel"], len(others), err1, len(replicas), err2, within, len(f.Sentinels)-1)
			case <-time.After(100 * time.Millisecond):
			}
		}
		c.Close()
	}
	return nil
}

// Master returns the address of the primary as the first sentinel of a
// Sentinel fleet reports it.
func (f *Fleet) Master(ctx context.Context) (string, error) {
	if len(f.Sentinels) == 0 {
		return f.Redis.Addrs["redis"], nil
	}
	c := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinels[0].Addrs["sentinel"]})
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", f.Sentinels[0].Addrs["sentinel"], err)
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// writeServers writes the second file of HAProxy's configuration (see
// renderServers) for the fleet's replicas and returns its path.
func (f *Fleet) writeServers() (string, error) {
	public := make([]string, len(f.Gateways))
	admin := make([]string, len(f.Gateways))
	for i, gw := range f.Gateways {
		public[i], admin[i] = gw.Addrs["gateway"], gw.Addr("admin")
	}
	servers, err := renderServers(public, admin)
	if err != nil {
		return "", fmt.Errorf("start fleet: %w", err)
	}
	// HAProxy's view of each replica (Fleet.State) is read on a stats
	// socket of the fleet's own, which the shipped file leaves out: a
	// global section may appear in several files.
	servers = "global\n    stats socket " + f.statsSocket() + " mode 600 level user\n" + servers
	path := filepath.Join(f.dir, "servers.cfg")
	if err := os.WriteFile(path, []byte(servers), 0o600); err != nil {
		return "", fmt.Errorf("start fleet: %w", err)
	}
	return path, nil
}

// renderServers renders the second file of HAProxy's configuration: the
// backend of the replicas, one server line each, with the replica's public
// address and its admin listener's port for the checks of /readyz. Every
// other setting of the lines is ConfigFile's default-server.
func renderServers(public, admin []string) (string, error) {
	var b strings.Builder
	b.WriteString("# The replicas of this fleet; written by Fanout's bench/fleet.\nbackend gateways\n")
	for i := range public {
		_, port, err := net.SplitHostPort(admin[i])
		if err != nil {
			return "", fmt.Errorf("gateway %d: admin address %q: %w", i+1, admin[i], err)
		}
		fmt.Fprintf(&b, "    server gw%d %s check port %s\n", i+1, public[i], port)
	}
	return b.String(), nil
}

// Check runs `haproxy -c` on the configuration cfg plus the server lines
// servers, with env, and returns HAProxy's complaint as the error.
func Check(ctx context.Context, haproxy, cfg, servers string, env []string) error {
	cmd := exec.CommandContext(ctx, haproxy, "-c", "-f", cfg, "-f", servers)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy -c -f %s -f %s: %w: %s", cfg, servers, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// onFreePort starts a program that must be told its port (Redis, HAProxy)
// on a free one, and tries another if the port was taken meanwhile.
func onFreePort(start func(addr string) (*launch.Proc, error)) (*launch.Proc, error) {
	var errs []error
	for range 3 {
		addr, err := launch.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := start(addr)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// URL is the fleet's public URL, HAProxy's.
func (f *Fleet) URL() string { return "http://" + f.HAProxy.Addrs["haproxy"] }

// Close stops HAProxy, the replicas, the mocks it started and Redis (the sentinels,
// the replica, the primary), in that order,
// the replicas all at once (each drains for its delay), and removes
// the fleet's files. A replica the caller already stopped or killed is not
// an error of Close; any other failed stop is.
func (f *Fleet) Close() error {
	var (
		mu   sync.Mutex
		errs []error
	)
	stop := func(p *launch.Proc, grace time.Duration) {
		if p == nil {
			return
		}
		select {
		case <-p.Done():
			return // stopped by the caller (a test's SIGTERM or kill -9)
		default:
		}
		// A process whose context ended was sent SIGTERM by it already
		// (the owner of ctx asked everything to stop): Stop then reports
		// the context's end, which is no failure of the process.
		if err := p.Stop(grace); err != nil && !errors.Is(err, context.Canceled) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if f.HAProxy != nil {
		// SIGTERM and SIGINT (Ctrl-C, which a terminal sends to every
		// process of the fleet) are HAProxy's hard stop, and it ends by
		// the signal itself: that is its normal end, not a failure.
		if err := f.HAProxy.Stop(launch.DefaultGrace); err != nil && !endedBy(f.HAProxy, syscall.SIGTERM, syscall.SIGINT) {
			errs = append(errs, err)
		}
	}
	// The replicas stop at once, so their drain delays overlap; each gets
	// its drain delay and the gateway's default grace period on top.
	var wg sync.WaitGroup
	for _, gw := range f.Gateways {
		wg.Go(func() { stop(gw, f.drainDelay+launch.DefaultGrace+10*time.Second) })
	}
	wg.Wait()
	if f.ownMocks {
		stop(f.Mocks, launch.DefaultGrace)
	}
	// The sentinels first, so that none promotes the replica as the
	// primary stops.
	for _, s := range f.Sentinels {
		stop(s, launch.DefaultGrace)
	}
	stop(f.RedisReplica, launch.DefaultGrace)
	stop(f.Redis, launch.DefaultGrace)
	if f.dir != "" {
		if err := os.RemoveAll(f.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endedBy reports whether p has exited because of one of the signals sigs.
func endedBy(p *launch.Proc, sigs ...syscall.Signal) bool {
	ps := p.Cmd.ProcessState
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && slices.Contains(sigs, ws.Signal())
}
