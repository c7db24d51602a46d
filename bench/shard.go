package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fanout/bench/harness"
	"fanout/bench/load"
	"fanout/bench/report"
	"fanout/bench/scenario"
)

func runAttack(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `bench attack sends one share of a scenario's load to a running gateway and
writes its results, for bench merge to join with the other shares: for a
rate beyond what one machine's load generator sends, run it on several
hosts at once, each with its own -shard, the way vegeta's documentation
runs a distributed attack.

Each step (a rate of the scenario) sends 1/N of the rate, with ids drawn
from a seed of its own, after its share of the warm-up, into
DIR/<variant>-<rate>.bin (vegeta's results format) and DIR/%s. Start
the hosts together: each shard's figures count from its own start, so a
second apart is fine, a step apart is not. The phases of the scenario's
events and the rates they set are played; its changes of backends are
not (run those against the mocks yourself, or use bench -target with
-mock-admin from one host), nor its hostile tenant. A capacity search
runs one probe at a time (-rate). The token is read from $%s.

Usage:
  bench attack -shard i/N -target URL [flags] SCENARIO

Example, on three hosts:
  FANOUT_TOKEN=... bench attack -shard 1/3 -target https://gw.staging -out shard1 my.yaml
  FANOUT_TOKEN=... bench attack -shard 2/3 -target https://gw.staging -out shard2 my.yaml
  FANOUT_TOKEN=... bench attack -shard 3/3 -target https://gw.staging -out shard3 my.yaml
then, with the three directories on one host:
  bench merge shard1 shard2 shard3

Flags:
`, harness.ShardManifest, TokenEnv)
		fs.PrintDefaults()
	}
	shard := fs.String("shard", "", "`i/N`: send share i (from 1) of N of each step's rate")
	target := fs.String("target", "", "`URL` of the running gateway")
	out := fs.String("out", "", "shard `DIR` to write (default shard-i-of-N)")
	dir := fs.String("scenarios", "scenarios", "`DIR` where scenario names are looked up")
	rate := fs.Float64("rate", 0, "run only the step of this whole `rate` (req/s; default: every rate of the scenario)")
	duration := fs.Duration("duration", 0, "length of each step (default: the scenario's)")
	warmup := fs.String("warmup", "", "`length` of each step's warm-up (default: the scenario's)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bench attack: "+format+" (bench attack -h)\n", a...)
		return 2
	}
	i, n, err := parseShard(*shard)
	if err != nil {
		return usage("-shard: %v", err)
	}
	if *target == "" {
		return usage("-target is required: the gateway to send the share to")
	}
	if *target, err = parseTarget(*target); err != nil {
		return usage("-target: %v", err)
	}
	if fs.NArg() != 1 {
		return usage("want one scenario, found %d", fs.NArg())
	}
	if *rate < 0 || *duration < 0 {
		return usage("-rate and -duration must be positive")
	}
	o := harness.AttackOptions{Shard: i, Of: n, Target: *target, Rate: *rate, Duration: *duration, Out: *out}
	if *warmup != "" {
		w, err := time.ParseDuration(*warmup)
		if err != nil || w < 0 {
			return usage("-warmup %q: want a length such as 2s", *warmup)
		}
		o.Warmup = &w
	}
	if o.Out == "" {
		o.Out = fmt.Sprintf("shard-%d-of-%d", i, n)
	}
	token := os.Getenv(TokenEnv)
	if token == "" {
		return usage("no token: set $%s to a token of the gateway", TokenEnv)
	}
	o.Authorization = "Bearer " + token
	file, err := resolve(*dir, fs.Arg(0))
	if err != nil {
		return usage("%v", err)
	}
	s, err := scenario.LoadFile(file)
	if err != nil {
		return usage("%v", err)
	}
	if s.Hostile != nil && !*quiet {
		fmt.Fprintf(stderr, "bench attack: %s: its hostile tenant is not played: it sends with a token only the gateways bench starts hold\n", file)
	}
	if *rate > 0 && s.Load.Capacity == nil && !slices.Contains(s.Load.Rates, *rate) && !*quiet {
		fmt.Fprintf(stderr, "bench attack: -rate %s is not one of the scenario's rates; running it anyway\n", load.FormatRate(*rate))
	}
	if !*quiet {
		o.Progress = stdout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := harness.RunShard(ctx, s, o); err != nil {
		fmt.Fprintf(stderr, "bench attack: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stdout, "wrote %s\n", o.Out)
	}
	return 0
}

// parseShard reads "i/N" with 1 <= i <= N.
func parseShard(v string) (i, n int, err error) {
	a, b, ok := strings.Cut(v, "/")
	i, errI := strconv.Atoi(a)
	n, errN := strconv.Atoi(b)
	if !ok || errI != nil || errN != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("want i/N with 1 <= i <= N, such as 2/3, found %q", v)
	}
	return i, n, nil
}

func runMerge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `bench merge joins the shard directories of one attack (bench attack on
several hosts) into one result directory, as if one generator had sent the
whole load: summary.json, report.md, the charts, and one results file per
step holding every shard's results. Every percentile comes from the merged
results, never from the shards' own; the rate sent and the throughput are
the shards' together. The expectations of the scenario are judged on the
merged figures. Every shard of the attack must be given, each once.

Usage:
  bench merge [-out DIR] SHARD_DIR...

Example:
  bench merge shard1 shard2 shard3

Flags:
`)
		fs.PrintDefaults()
	}
	out := fs.String("out", "results", "parent `DIR` of the result directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	o, err := harness.MergeShards(context.Background(), fs.Args(), harness.Options{Out: *out, Write: report.Write})
	if err != nil {
		fmt.Fprintf(stderr, "bench merge: %v\n", err)
		if o.Result == nil {
			return 2
		}
		return 1
	}
	summarise(stdout, o)
	if n := harness.Failed([]harness.Outcome{o}); n > 0 {
		fmt.Fprintf(stdout, "bench merge: %d expectation(s) failed\n", n)
		return 1
	}
	return 0
}
