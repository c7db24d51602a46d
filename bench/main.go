// Command bench runs Fanout's benchmark scenarios against real processes: it
// builds the gateway and the mock backends, starts them on free loopback
// ports (the gateway on CPUs of its own), offers load with vegeta in the
// open model, and writes a report per scenario under results/ with every
// figure beside its limit. It can also load a gateway already running
// (-target), from several hosts (bench attack, bench merge).
//
// The work is done by the packages beneath (harness, load, report, ...);
// this file only parses flags and wires them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"fanout/bench/figure"
	"fanout/bench/harness"
	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/report"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

const usage = `bench runs the benchmark scenarios and writes a report per scenario.

Usage:
  bench [flags] [SCENARIO ...]     run scenarios (default: the default suite)
  bench compare [flags] A B        print each figure of two result directories and its change
                                   (bench compare -h: thresholds, repeated runs)
  bench report DIR                 redraw report.md and the charts of a result directory,
                                   an interrupted one too (bench report -h)
  bench demo [flags] [ACT ...]     the talk-style demo (bench demo -h)
  bench stage [flags]              a live dashboard for talks, in the browser (bench stage -h)
  bench fleet [flags]              gateway replicas behind HAProxy, sharing Redis (bench fleet -h)
  bench attack -shard i/N -target URL SCENARIO
                                   one share of a scenario's load, from one of several hosts (bench attack -h)
  bench merge SHARD_DIR...         one summary and report from the shares (bench merge -h)

A SCENARIO is a YAML file (my.yaml) or a name under -scenarios (talk or
talk.yaml), found from any directory of the repository.
Without one, bench runs the default suite: %s.

Each scenario writes results/<UTC time>-<name>/: scenario.yaml, env.json,
summary.json, report.md, SVG charts and <mode>-<rate>.bin (vegeta's results
format: vegeta report < results/.../concurrent-200.bin).

The gateway under test runs on CPUs of its own where the machine has two or
more (-split; env.json records the split), and a step whose load generator
and mocks ran out of CPU is flagged and sets no capacity.

With -target, bench runs a scenario's load against a gateway that is
already running (a deployment behind its load balancer, a staging host)
and starts nothing; the token is read from $FANOUT_TOKEN. With the mocks'
addresses (-mock-admin) the scenario's models, events and limits apply as
with the mocks bench starts; without them the report says that no limits
are known. Against a running gateway, a scenario runs one variant (the
gateway's mode is its own).

bench exits 1 if an expectation fails, 2 on bad usage or a bad scenario
file (nothing is started then), 130 if interrupted (Ctrl-C): the steps that
finished are kept in summary.json and report.md, marked interrupted.

Examples:
  bench                               # the default suite (a few minutes)
  bench -quick                        # the whole pipeline in under a minute
  bench talk tail                     # two scenarios of the suite
  bench fleet.yaml                    # the fleet scenario, not in the suite (make bench-fleet)
  bench -check scenarios/*.yaml       # validate scenario files, run nothing
  bench -out /tmp/r -quiet my.yaml    # your own scenario, no progress lines
  bench -seed 42 tail                 # the seed of an earlier run (its summary.json's "seed")
  bench compare results/A-talk results/B-talk
  FANOUT_TOKEN=... bench -target https://gw.staging:8080 my.yaml   # a deployment

Flags:
`

// runHarness runs the scenarios; tests replace it to see the options that
// the flags make without building or starting anything.
var runHarness = harness.Run

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if len(args) > 0 {
		switch args[0] {
		case "compare":
			return compare(args[1:], stdout, stderr)
		case "report":
			return redraw(args[1:], stdout, stderr)
		case "demo":
			return runDemo(args[1:], stdout, stderr)
		case "stage":
			return runStage(args[1:], stdout, stderr)
		case "fleet":
			return runFleet(args[1:], stdout, stderr)
		case "attack":
			return runAttack(args[1:], stdout, stderr)
		case "merge":
			return runMerge(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, strings.Join(harness.DefaultSuite, ", "))
		fs.PrintDefaults()
	}
	out := fs.String("out", "results", "parent `DIR` of the result directories")
	dir := fs.String("scenarios", "scenarios", "`DIR` where scenario names are looked up")
	quick := fs.Bool("quick", false, "run the quick scenario ("+strings.Join(harness.QuickSuite, ", ")+") instead of the default suite")
	quiet := fs.Bool("quiet", false, "no progress lines, only the final verdict")
	check := fs.Bool("check", false, "validate the scenario files and exit")
	split := fs.String("split", "auto", "`auto` runs the gateway on CPUs of its own and the load generator and mock backends on the others, where the machine has "+
		strconv.Itoa(launch.MinSplitCPUs)+" CPUs or more (recorded in env.json); off runs every process on every CPU")
	floor := fs.Bool("floor", true, "end each scenario with the gateway's CPU per results page beside the CPU floor's (a bare fan-out of the same calls, side by side; about 3 s); -floor=false leaves it out")
	target := fs.String("target", "", "`URL` of a gateway already running (a deployment, a fleet behind its load balancer): the scenario's load goes there, "+
		"with the token in $"+TokenEnv+", and bench starts no gateway and no mocks")
	mockAdmin := fs.String("mock-admin", "", "with -target, the Fanout mocks behind the target, as `NAME=URL,...` (experiments=http://host:9101,...): "+
		"whose models bench sets from the scenario, so that its events play and its limits hold; without them, no limits are known")
	seed := fs.Uint64("seed", 0, "`N` seeds the mock backends' random latencies and faults and the limits' simulation; "+
		"0 draws a fresh seed per execution, recorded in summary.json, so repeated runs are independent samples; pass one back to draw from the same sequence again")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	admin, err := parseMockAdmin(*mockAdmin)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -mock-admin: %v\n", err)
		return 2
	}
	if len(admin) > 0 && *target == "" {
		fmt.Fprintln(stderr, "bench: -mock-admin needs -target: bench starts its own mocks otherwise")
		return 2
	}
	if *target != "" {
		if *target, err = parseTarget(*target); err != nil {
			fmt.Fprintf(stderr, "bench: -target: %v\n", err)
			return 2
		}
	}
	if *split != "auto" && *split != "off" {
		fmt.Fprintf(stderr, "bench: -split %q: want auto or off\n", *split)
		return 2
	}
	names := fs.Args()
	if len(names) == 0 {
		names = harness.DefaultSuite
		if *quick {
			names = harness.QuickSuite
		}
	} else if *quick {
		fmt.Fprintln(stderr, "bench: -quick takes no scenario arguments")
		return 2
	}
	// Every file is read and validated before anything starts.
	var scenarios []*scenario.Scenario
	bad := false
	for _, n := range names {
		file, err := resolve(*dir, n)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			bad = true
			continue
		}
		s, err := scenario.LoadFile(file)
		if err != nil {
			// A file's problems come one per line, each with its place.
			printLines(stderr, err)
			bad = true
			continue
		}
		scenarios = append(scenarios, s)
	}
	if !bad && !checkRoutes(scenarios, stderr) {
		bad = true
	}
	topts := harness.Options{Target: *target, MockAdmin: admin}
	for _, s := range scenarios {
		if err := harness.CheckFlags(s); err != nil {
			printLines(stderr, err)
			bad = true
		}
		if err := harness.CheckTarget(s, topts); err != nil {
			printLines(stderr, err)
			bad = true
		}
	}
	if bad {
		return 2
	}
	if *check {
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "ok  %s (%s, about %s)\n", s.File, s.Name, s.Estimate().Round(1e9))
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The gateway and the mocks are built from the repository's sources:
	// without them nothing can run, which is a matter of usage (2), not a
	// failed expectation (1). Against a running gateway nothing is built.
	if _, err := launch.ModuleRoot(ctx); err != nil && *target == "" {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	opts := harness.Options{Out: *out, Write: report.Write, Seed: *seed, Target: *target, MockAdmin: admin}
	if *target != "" {
		token := os.Getenv(TokenEnv)
		if token == "" {
			fmt.Fprintf(stderr, "bench: -target: no token: set $%s to a token of the gateway (the requests carry it as a bearer token)\n", TokenEnv)
			return 2
		}
		opts.Authorization = "Bearer " + token
	}
	if *split == "off" {
		opts.NoSplit = "-split off"
	}
	opts.NoFloor = !*floor
	if !*quiet {
		opts.Progress = stdout
	}
	outs, err := runHarness(ctx, scenarios, opts)
	if len(outs) > 0 && outs[0].Result.Env.Split != nil {
		fmt.Fprintf(stdout, "CPUs: %s\n", outs[0].Result.Env.Split.Describe())
	}
	for _, o := range outs {
		summarise(stdout, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	if n := harness.Failed(outs); n > 0 {
		fmt.Fprintf(stdout, "bench: %d expectation(s) failed\n", n)
		return 1
	}
	return 0
}

// printLines prints err's lines, each a problem with its place, one per
// line after "bench: ".
func printLines(stderr io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "bench: %s\n", line)
	}
}

// checkRoutes prints, one per line, each request of the scenarios that no
// operation of the gateway serves, and reports whether there was none.
func checkRoutes(scenarios []*scenario.Scenario, stderr io.Writer) bool {
	routes, err := harness.Routes()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return false
	}
	ok := true
	for _, s := range scenarios {
		if err := harness.CheckRoutes(s, routes); err != nil {
			printLines(stderr, err)
			ok = false
		}
	}
	return ok
}

// resolve turns a scenario argument into its file. A file that exists is
// taken as it is. Otherwise the argument is a name, with or without .yaml:
// it is looked up in dir, and, when dir is relative and holds no such file,
// in dir under the module root, so `bench talk` works from any directory of
// the repository. A miss lists the names that exist.
func resolve(dir, arg string) (string, error) {
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		return arg, nil
	}
	if strings.ContainsRune(arg, filepath.Separator) {
		return "", fmt.Errorf("read scenario: %s: no such file", arg)
	}
	name := strings.TrimSuffix(strings.TrimSuffix(arg, ".yaml"), ".yml")
	dirs := []string{dir}
	var rootErr error
	if !filepath.IsAbs(dir) {
		root, err := launch.ModuleRoot(context.Background())
		if d := filepath.Join(root, dir); err == nil && d != filepath.Clean(dir) {
			dirs = append(dirs, d)
		}
		rootErr = err
	}
	for _, d := range dirs {
		for _, ext := range []string{".yaml", ".yml"} {
			f := filepath.Join(d, name+ext)
			if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
				return f, nil
			}
		}
	}
	var known []string
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.yaml"))
		for _, f := range files {
			if n := strings.TrimSuffix(filepath.Base(f), ".yaml"); !slices.Contains(known, n) {
				known = append(known, n)
			}
		}
		if len(known) > 0 {
			break
		}
	}
	if len(known) == 0 {
		if rootErr != nil {
			// Outside the repository: say where the scenarios are.
			return "", fmt.Errorf("no scenario %q: no scenario files in %s, and %w; or name a scenario file, or a directory of them with -scenarios", name, strings.Join(dirs, " or "), rootErr)
		}
		return "", fmt.Errorf("no scenario %q: no scenario files in %s", name, strings.Join(dirs, " or "))
	}
	slices.Sort(known)
	return "", fmt.Errorf("no scenario %q in %s (known: %s)", name, strings.Join(dirs, " or "), strings.Join(known, ", "))
}

// summarise prints the verdict and the headline figures of one scenario.
func summarise(w io.Writer, o harness.Outcome) {
	s := o.Result
	verdict := s.Verdict()
	if s.Interrupted {
		steps := "steps"
		if len(s.Runs) == 1 {
			steps = "step"
		}
		on := "on them, "
		if len(s.Expectations) == 0 {
			on = ""
		}
		verdict = fmt.Sprintf("INTERRUPTED, %d finished %s kept; %s%s", len(s.Runs), steps, on, verdict)
	}
	fmt.Fprintf(w, "%s: %s; report %s\n", s.Name, verdict, filepath.Join(o.Dir, report.ReportFile))
	for _, e := range append(s.Failed(), s.Undecided()...) {
		fmt.Fprintf(w, "  %s %s   %s\n", e.Mark(), e.Source, e.Detail)
	}
	if s.Floor != nil {
		if line := report.FloorLine(s.Floor); line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if s.Cost != nil {
		report.CostLines(w, s.Cost)
		return
	}
	if len(s.Capacity) > 0 {
		for _, c := range s.Capacity {
			fmt.Fprintf(w, "  %-12s capacity %s req/s\n", report.Label(c.Variant, c.Mode, c.PoolSize), report.CapacityText(c))
		}
		return
	}
	for _, r := range s.Runs {
		ratio := ""
		if s.Limits != nil && s.Limits.CriticalPath.P50 > 0 {
			ratio = fmt.Sprintf("  p50/critical %.2f", float64(r.Latency.P50)/float64(s.Limits.CriticalPath.P50))
		}
		rate := load.FormatRate(r.Rate) + " req/s"
		if r.GeneratorLimited {
			// The offered rate alone would claim load that was never sent.
			rate = fmt.Sprintf("%s req/s offered, %s sent, generator-limited", load.FormatRate(r.OfferedRate()), load.FormatRate(math.Round(r.Summary.Rate)))
		}
		if r.LoadSaturated {
			rate += ", " + report.LoadSaturatedText(&r)
		}
		// A p99 of too few requests is no figure, as the report says.
		p99 := "n/a"
		if r.EnoughSamples() {
			p99 = report.Ms(r.Latency.P99)
		}
		// Complete, partial and failed apart, as the report shows them:
		// "success" alone counts a partial page as a served one.
		fmt.Fprintf(w, "  %-12s %s  p50 %8s  p99 %8s  complete %6.2f%%  partial %6.2f%%  failed %6.2f%%%s\n", report.Label(r.Variant, r.Mode, r.PoolSize), rate,
			report.Ms(r.Latency.P50), p99, 100*r.Complete, 100*r.Partial, 100*r.Failed, ratio)
	}
}

func compare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `bench compare prints, for every mode and rate both sides share, each figure
(latency percentiles and trend, the rate sent, throughput, success and its
complete/partial/failed split, status codes, error kinds, the gateway's and
the load generator's CPU, memory, goroutines, calls per request, capacity
and its hold, the limits with their uncertainty) of A, of B, the change
from A to B, and a verdict: "better" or "worse" beyond the threshold,
nothing below it, "changed" for a figure that is neither (requests, the
rate sent, the generator's CPU). Shares (success, complete, partial,
failed, codes, errors) change in percentage points, the latency trend in
ms/s (below %g ms/s it is unchanged). The gateway's resources have
absolute floors below which a change is unchanged, however large
relatively: %g MiB of RSS, %g goroutines, %g ms of CPU per request. A p99
or p99.9 of fewer than %d requests is left out: it rests on a handful of
them. The figures that changed beyond noise are listed first.

A side can be several result directories of the same scenario (repeated
runs): each figure is then shown as mean (min–max), and a change whose
ranges overlap is "within noise". It warns when the machines, Go versions,
commits or the CPUs' split between the gateway and the load side differ,
when a run was interrupted, when a step was generator-limited or load
saturated (its figures measure the load generator and the mocks, not the
gateway), when a step ran for another length, and about modes and rates
only one side has.

Usage:
  bench compare [flags] DIR_A DIR_B
  bench compare [flags] DIR_A... vs DIR_B...

Examples:
  bench compare results/20261125T210000Z-talk results/20261126T090000Z-talk
  bench compare -threshold 10%% results/*-before-talk vs results/*-after-talk

Flags:
`, figure.TrendNoise, figure.RSSNoiseMiB, figure.GoroutineNoise, figure.CPUPerReqNoiseMs, load.MinSamples)
		fs.PrintDefaults()
	}
	opt := report.CompareOptions{Threshold: report.DefaultThreshold, Points: report.DefaultPoints}
	fs.Func("threshold", fmt.Sprintf("relative `change` below which a figure is unchanged, e.g. 5%% or 0.05 (default %g%%)", 100*report.DefaultThreshold), func(v string) error {
		t, err := parseThreshold(v)
		opt.Threshold = t
		return err
	})
	fs.Float64Var(&opt.Points, "points", report.DefaultPoints, "change in percentage `points` below which a share (success, complete, partial, failed, a status code, an error kind) is unchanged")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if opt.Points <= 0 {
		fmt.Fprintln(stderr, "bench compare: -points must be positive")
		return 2
	}
	dirsA, dirsB := fs.Args(), []string(nil)
	if i := slices.Index(dirsA, "vs"); i >= 0 {
		dirsA, dirsB = dirsA[:i], dirsA[i+1:]
	} else if len(dirsA) == 2 {
		dirsA, dirsB = dirsA[:1], dirsA[1:]
	}
	if len(dirsA) == 0 || len(dirsB) == 0 {
		fs.Usage()
		return 2
	}
	var sides [2]report.Side
	for i, dirs := range [][]string{dirsA, dirsB} {
		sides[i].Name = strings.Join(dirs, " ")
		for _, d := range dirs {
			s, err := result.Read(d)
			if err != nil {
				fmt.Fprintf(stderr, "bench compare: %v\n", err)
				return 2
			}
			sides[i].Runs = append(sides[i].Runs, s)
		}
	}
	if err := report.CompareSides(stdout, sides[0], sides[1], opt); err != nil {
		fmt.Fprintf(stderr, "bench compare: %v\n", err)
		return 1
	}
	return 0
}

// parseThreshold reads a relative threshold: "5%" or "0.05".
func parseThreshold(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	t, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
	if err != nil || math.IsNaN(t) || t <= 0 {
		return 0, fmt.Errorf("want a positive change such as 5%% or 0.05, found %q", v)
	}
	if pct {
		t /= 100
	}
	return t, nil
}

func redraw(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `bench report redraws report.md and the charts of a result directory from its
summary.json and its .bin files: after a change of the report's layout, or
for a run cut short (Ctrl-C), whose summary.json keeps the steps that
finished; its report then says at the top that it was interrupted.

A chart drawn from a .bin file (the latency over time of each step) is
kept as it was drawn where the .bin file is gone, as in a committed
reference run, which keeps its charts but not its results files; its
title says so.

With -readme FILE, the result directory of a cost scenario also replaces
the section of FILE headed "`+report.CostHeading+`" with the same section
of its report: the table of what each feature costs, with its machine.

Usage:
  bench report [-readme FILE] DIR

It exits 2 when DIR has no readable summary.json, 1 when the report cannot
be written.

Examples:
  bench report results/20261125T210000Z-talk
  bench report -readme README.md results/20261207T010000Z-cost
`)
		fs.PrintDefaults()
	}
	readme := fs.String("readme", "", "`FILE` whose cost section (a cost scenario's table) is replaced by DIR's")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	if err := report.Rebuild(dir); err != nil {
		fmt.Fprintf(stderr, "bench report: %v\n", err)
		var syntax *json.SyntaxError
		if errors.Is(err, os.ErrNotExist) || errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(dir, report.ReportFile))
	// Rebuild read summary.json already; reading it again is cheap and
	// keeps Rebuild's contract small.
	if s, err := result.Read(dir); err == nil && s.Interrupted {
		steps := "steps"
		if len(s.Runs) == 1 {
			steps = "step"
		}
		fmt.Fprintf(stdout, "the run was interrupted: its report holds the %d %s that finished\n", len(s.Runs), steps)
	}
	if *readme != "" {
		if err := replaceCostSection(*readme, dir); err != nil {
			fmt.Fprintf(stderr, "bench report: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote the cost table of %s into %s\n", dir, *readme)
	}
	return 0
}

// replaceCostSection replaces the cost section of the file readme with
// that of the cost scenario's result in dir.
func replaceCostSection(readme, dir string) error {
	s, err := result.Read(dir)
	if err != nil {
		return err
	}
	section := report.CostSection(s)
	if section == "" {
		return fmt.Errorf("%s is not a cost scenario's result: it has no cost table", dir)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	doc, err := report.ReplaceSection(string(b), report.CostHeading, section)
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, []byte(doc), 0o644)
}

// parseFlags parses args with fs, the flags of a subcommand that takes no
// arguments (stage, fleet), whose output is stderr. It returns -1 when the
// command may run, else its exit code: 0 after -h, 2 for a bad flag or an
// argument, said on fs's output.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s (see bench %s -h)\n", fs.Name(), strings.Join(fs.Args(), " "), fs.Name())
		return 2
	}
	return -1
}
