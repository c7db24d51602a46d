package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"fanout/bench/stage"
	"fanout/gateway/fanout"
)

const stageUsage = `Usage: bench stage [flags]

A live dashboard for talks. It builds and starts the mock backends and a
gateway behind a stable address, offers GET /v2/experiments/{id}/results to
it, and serves one local page (no network needed) whose charts move four
times a second: answers per second (offered, complete, partial, failed),
p50 and p99 against the critical path, the sum and the deadline, requests
in flight at the gateway and at each backend, and the latest request's
waterfall from its Server-Timing.

On the page: the gateway's mode (the gateway restarts behind the same
address; a marker goes on every chart), the offered rate, each backend's
latency model and faults, hedging, breakers, shedding and coalescing, and
the four acts of bench demo as scenes with a caption each: → or Space plays
the next, ← the one before, 1-4 one of them, t switches the theme. "Save
recording" downloads what was shown as one self-contained HTML file.

It prints the page's address and runs until Ctrl-C, which stops everything
it started.

Examples:
  bench stage                               the page on a free port
  bench stage -addr 127.0.0.1:8800          a port to bookmark
  bench stage -mode blocking -rate 30       start where the talk starts

Flags:
`

// runStage runs the stage command with args (those after "stage") until
// SIGINT or SIGTERM, and returns its exit code: 0 after a clean stop or -h
// (Ctrl-C is how a talk ends), 2 for bad usage, 1 when the stage cannot
// start, 130 when interrupted before it started.
func runStage(args []string, stdout, stderr io.Writer) int {
	o, code := parseStage(args, stderr)
	if o == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(stderr, "stage: building and starting the mock backends and the gateway")
	st, err := stage.Start(ctx, *o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "stage: interrupted while starting")
			return 130
		}
		fmt.Fprintf(stderr, "stage: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "stage: open %s (gateway at %s); Ctrl-C stops\n", st.URL(), st.GatewayAddr())
	<-ctx.Done()
	fmt.Fprintln(stderr, "stage: stopping")
	if err := st.Close(); err != nil {
		fmt.Fprintf(stderr, "stage: %v\n", err)
	}
	return 0
}

// parseStage turns the stage's flags into its options, checked. A nil
// result means there is nothing to run, and code is the exit code (0 after
// -h, 2 for bad usage, said on stderr).
func parseStage(args []string, stderr io.Writer) (*stage.Options, int) {
	o := stage.DefaultOptions()
	fs := flag.NewFlagSet("stage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, stageUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Addr, "addr", o.Addr, "the page's `HOST:PORT` (port 0 picks a free port)")
	fs.StringVar(&o.GatewayAddr, "gateway-addr", o.GatewayAddr, "the gateway's stable `HOST:PORT`, kept across restarts (port 0 picks a free port)")
	fs.StringVar(&o.Gateway.Mode, "mode", o.Gateway.Mode, "the gateway's first `MODE`: "+strings.Join(fanout.Modes, ", "))
	fs.IntVar(&o.Gateway.PoolSize, "pool-size", o.Gateway.PoolSize, "workers of the pool in mode pool")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "the first offered `rate`, requests/s (0: no load until the slider moves)")
	fs.DurationVar(&o.Window, "window", o.Window, "sliding window of p50 and p99")
	fs.DurationVar(&o.Tick, "tick", o.Tick, "how often the charts move")
	fs.DurationVar(&o.Deadline, "deadline", o.Deadline, "the gateway's deadline of one request")
	verbose := fs.Bool("v", false, "copy the gateway's and mocks' logs to standard error")
	fs.StringVar(&o.Bins.Gateway, "gateway-bin", "", "use this gateway `binary` instead of building ./gateway")
	fs.StringVar(&o.Bins.Mocks, "mocks-bin", "", "use this mock backends `binary` instead of building ./mockbackends")
	if code := parseFlags(fs, args); code >= 0 {
		return nil, code
	}
	if *verbose {
		o.Logs = stderr
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "stage: %v\n", err)
		return nil, 2
	}
	return &o, 0
}
