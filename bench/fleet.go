package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"fanout/bench/fleet"
	"fanout/bench/launch"
)

const fleetUsage = `Usage: bench fleet [flags]

A fleet of gateways on this machine, as production runs one: redis-server,
which the replicas share for rate limits and Idempotency-Key records
(-redis), the mock backends, -replicas gateways, and HAProxy in front of
them with deploy/haproxy/haproxy.cfg (checks of each replica's /readyz,
retries, redispatch). Every process listens on 127.0.0.1.

It prints the fleet's URL, a token (an export FANOUT_TOKEN=... line) and
each replica's pid and addresses, so that a replica can be stopped (kill
-TERM PID: it drains, and HAProxy sends its requests elsewhere) or killed
(kill -9 PID) while load runs. With -sentinel, Redis is a primary, a
replica and three redis-sentinel, and the gateways find the primary through
the sentinels: kill -9 the printed primary's pid, and a sentinel promotes
the replica within a few seconds. It runs until Ctrl-C, which stops
everything it started. It needs haproxy and redis-server, and
redis-sentinel for -sentinel (apt-get install haproxy redis-server
redis-sentinel).

Examples:
  bench fleet                               three replicas, free ports
  bench fleet -replicas 2 -addr 127.0.0.1:8000
  bench fleet -v                            with every process's log
  bench fleet -sentinel                     Redis with Sentinel: kill -9 its primary

Flags:
`

// fleetOptions are bench fleet's settings, parsed.
type fleetOptions struct {
	fleet fleet.Options
	// rate is the printed token's rate limit, requests a second.
	rate int
}

// runFleet runs the fleet command with args (those after "fleet") until
// SIGINT or SIGTERM, and returns its exit code: 0 after a clean stop or
// -h, 2 for bad usage, 1 when the fleet cannot start or stop cleanly, 130
// when interrupted before it started.
func runFleet(args []string, stdout, stderr io.Writer) int {
	o, code := parseFleet(args, stderr)
	if o == nil {
		return code
	}
	secret := "fleet_" + rand.Text()
	o.fleet.Tokens = []string{launch.TokenEntry("fleet", secret, fmt.Sprintf("{limit: %d, per: 1s}", o.rate))}
	o.fleet.Progress = func(step string) { fmt.Fprintf(stderr, "fleet: %s\n", step) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := fleet.Start(ctx, o.fleet)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "fleet: interrupted while starting")
			return 130
		}
		fmt.Fprintf(stderr, "fleet: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "fleet: %d gateways behind HAProxy at %s (redis at %s)\n", len(f.Gateways), f.URL(), f.Redis.Addrs["redis"])
	if f.RedisReplica != nil {
		fmt.Fprintf(stdout, "fleet: redis primary pid %d, its replica at %s, three sentinels; the gateways' -redis is %s\n",
			f.Redis.Pid(), f.RedisReplica.Addrs["redis"], f.RedisURL())
	}
	for i, gw := range f.Gateways {
		fmt.Fprintf(stdout, "fleet: gateway %d: pid %d, public %s, admin %s\n", i+1, gw.Pid(), gw.Addrs["gateway"], gw.Addr("admin"))
	}
	fmt.Fprintf(stdout, "export FANOUT_TOKEN=%s\n", secret)
	fmt.Fprintf(stdout, "curl -H \"Authorization: Bearer $FANOUT_TOKEN\" %s/v2/experiments/42/results\n", f.URL())
	fmt.Fprintln(stdout, "fleet: Ctrl-C stops everything")
	<-ctx.Done()
	fmt.Fprintln(stderr, "fleet: stopping")
	if err := f.Close(); err != nil {
		fmt.Fprintf(stderr, "fleet: %v\n", err)
		return 1
	}
	return 0
}

// parseFleet turns the fleet's flags into its options, checked. A nil
// result means there is nothing to run, and code is the exit code (0
// after -h, 2 for bad usage, said on stderr).
func parseFleet(args []string, stderr io.Writer) (*fleetOptions, int) {
	o := fleetOptions{rate: 100}
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, fleetUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.fleet.Replicas, "replicas", fleet.DefaultReplicas, "gateway replicas (make fleet's FLEET)")
	fs.StringVar(&o.fleet.Addr, "addr", "", "HAProxy's `HOST:PORT` (none: a free 127.0.0.1 port)")
	fs.DurationVar(&o.fleet.DrainDelay, "drain-delay", fleet.DefaultDrainDelay, "each replica's -drain-delay")
	fs.IntVar(&o.rate, "rate", o.rate, "the printed token's rate limit, requests a second, for the whole fleet")
	fs.BoolVar(&o.fleet.Sentinel, "sentinel", false, "Redis with Sentinel: a primary, a replica and three redis-sentinel, which the gateways ask for the primary")
	verbose := fs.Bool("v", false, "copy every process's log to standard error")
	if code := parseFlags(fs, args); code >= 0 {
		return nil, code
	}
	switch {
	case o.fleet.Replicas < 1:
		fmt.Fprintf(stderr, "fleet: -replicas %d: want 1 or more\n", o.fleet.Replicas)
		return nil, 2
	case o.rate < 1:
		fmt.Fprintf(stderr, "fleet: -rate %d: want 1 or more\n", o.rate)
		return nil, 2
	case o.fleet.DrainDelay <= 0:
		// HAProxy needs its checks' time to take a draining replica out.
		fmt.Fprintf(stderr, "fleet: -drain-delay %v: want more than 0\n", o.fleet.DrainDelay)
		return nil, 2
	}
	if *verbose {
		o.fleet.Logs = stderr
	}
	return &o, 0
}
