package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"fanout/bench/demo"
)

const demoUsage = `Usage: bench demo [act...] [flags]

A one-minute terminal show of blocking vs non-blocking fan-out. It builds and
starts its own mock backends and gateways on free loopback ports, plays the
acts and stops everything. Acts (all by default, in this order):

  eventloop  two requests, a slow one and a fast one, at the same time:
             concurrent mode lets the fast one finish first, blocking mode
             makes it wait behind the slow one
  results    the four backend calls of GET /v2/experiments/{id}/results as
             a waterfall in sequential, staged and concurrent mode, each
             total beside the critical path and the sum
  load       pool, concurrent and blocking at rising rates: throughput and
             p99, and where each breaks; the rates start at half of what
             blocking can serve (1 / backend time per request)
  pool       a small worker pool against concurrent as the rate passes
             workers / latency

Between acts the show waits for Enter when standard input is a terminal
(not with -no-pause). Colours only on a terminal (see -color).

Examples:
  bench demo                          the whole show
  bench demo eventloop                one act
  bench demo -no-pause -html demo.html
                                      straight through, and a page to project
  bench demo load -rates 50,100,200,400,800 -step 3s
  bench demo -quick -no-pause         about 15 seconds, for CI

Flags:
`

// runDemo runs the demo command with args (those after "demo") and returns
// its exit code: 0 on success, 2 for bad usage, 1 when the show fails, 130
// when interrupted. It reads standard input for pauses and stops on SIGINT
// or SIGTERM.
func runDemo(args []string, stdout, stderr io.Writer) int {
	o, code := parseDemo(args, stdout, stderr)
	if o == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := demo.Run(ctx, *o); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "demo: interrupted")
			return 130
		}
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	if o.HTML != "" {
		fmt.Fprintf(stderr, "demo: wrote %s\n", o.HTML)
	}
	return 0
}

// parseDemo turns the demo's flags and acts into its options, checked. A
// nil result means there is nothing to play, and code is the exit code
// (0 after -h, 2 for bad usage, said on stderr).
func parseDemo(args []string, stdout, stderr io.Writer) (o *demo.Options, code int) {
	opts := demo.DefaultOptions(stdout)
	o = &opts
	o.Log = stderr
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, demoUsage)
		fs.PrintDefaults()
	}
	noPause := fs.Bool("no-pause", false, "never wait for Enter between acts")
	colour := fs.String("color", "auto", "colours: auto (only on a terminal, not with NO_COLOR), always or never")
	quick := fs.Bool("quick", false, "a short show for tests and CI: shorter requests, lower rates, brief steps, small pools (flags given as well win)")
	fs.StringVar(&o.HTML, "html", "", "also write the acts as one self-contained HTML `file` with charts")
	fs.IntVar(&o.Width, "width", o.Width, "width of timelines and bars in `cells`")
	fs.DurationVar(&o.Slow, "slow", o.Slow, "eventloop: backend latency of the slow request")
	fs.DurationVar(&o.Fast, "fast", o.Fast, "eventloop: backend latency of the fast request")
	fs.DurationVar(&o.Step, "step", o.Step, "load and pool: how long each offered rate is held")
	rates := fs.String("rates", joinNumbers(o.Rates), "load: offered `rates` (requests/s), rising, comma-separated (default: "+joinNumbers(o.LoadFactors)+" times the blocking gateway's capacity, 1 / backend time per request)")
	fs.IntVar(&o.PoolSize, "pool-size", o.PoolSize, "load: workers of the pool gateway")
	fs.IntVar(&o.SmallPool, "small-pool", o.SmallPool, "pool: workers of the pool that is pushed past its capacity")
	loads := fs.String("pool-loads", joinNumbers(o.PoolLoads), "pool: offered rates as `fractions` of the pool's capacity")
	fs.DurationVar(&o.SLO, "slo", o.SLO, "load: p99 past which a gateway counts as broken (so does success under 99%)")
	fs.BoolVar(&o.Verbose, "v", false, "copy the gateways' and mocks' logs to standard error")
	fs.StringVar(&o.Bins.Gateway, "gateway-bin", "", "use this gateway `binary` instead of building ./gateway")
	fs.StringVar(&o.Bins.Mocks, "mocks-bin", "", "use this mock backends `binary` instead of building ./mockbackends")

	// Acts may come before or after the flags: `demo load -step 3s` and
	// `demo -step 3s load` both work.
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		if fs.NArg() == 0 {
			break
		}
		o.Acts = append(o.Acts, fs.Arg(0))
		rest = fs.Args()[1:]
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		q := demo.DefaultOptions(stdout)
		q.Quick()
		// Explicit flags win over the quick preset.
		if !set["slow"] {
			o.Slow = q.Slow
		}
		if !set["fast"] {
			o.Fast = q.Fast
		}
		if !set["step"] {
			o.Step = q.Step
		}
		o.LoadFactors = q.LoadFactors
		if !set["pool-size"] {
			o.PoolSize = q.PoolSize
		}
		if !set["small-pool"] {
			o.SmallPool = q.SmallPool
		}
		if !set["pool-loads"] {
			*loads = joinNumbers(q.PoolLoads)
		}
	}
	var err error
	if *rates == "" {
		o.Rates = nil
	} else if o.Rates, err = parseNumbers(*rates, strconv.Atoi, "a whole number"); err != nil {
		fmt.Fprintf(stderr, "demo: -rates: %v\n", err)
		return nil, 2
	}
	parseFloat := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	if o.PoolLoads, err = parseNumbers(*loads, parseFloat, "a number"); err != nil {
		fmt.Fprintf(stderr, "demo: -pool-loads: %v\n", err)
		return nil, 2
	}
	switch *colour {
	case "always":
		o.Colour = true
	case "never":
		o.Colour = false
	case "auto":
		o.Colour = isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	default:
		fmt.Fprintf(stderr, "demo: -color must be auto, always or never, not %q\n", *colour)
		return nil, 2
	}
	o.In = os.Stdin
	o.Pause = !*noPause && isTerminal(os.Stdin)
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return nil, 2
	}
	return o, 0
}

// isTerminal reports whether v is a character device such as a terminal
// (not a pipe or a file).
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// joinNumbers writes v comma-separated, as the list flags take it.
func joinNumbers[T int | float64](v []T) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// parseNumbers reads a comma-separated list with parse; what names one
// element in the error ("a whole number").
func parseNumbers[T any](s string, parse func(string) (T, error), what string) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not %s", f, what)
		}
		out = append(out, v)
	}
	return out, nil
}
