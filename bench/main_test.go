package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fanout/bench/demo"
	"fanout/bench/harness"
	"fanout/bench/report"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// micro is the smallest scenario that goes through the whole pipeline:
// real mocks, a real gateway, load, limits, expectations and the report.
const micro = `
description: One mode, one second, to test the pipeline.
gateway: {modes: [concurrent]}
targets: [{path: "/v2/experiments/{id}/results", ids: 1-1000}]
load: {warmup: 0s, duration: 1s, rates: [20]}
expect:
  - concurrent.success >= 90%
  - concurrent.p50 >= critical_path
  - concurrent.p50 < 3 * critical_path
`

func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway and the mock backends")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "micro.yaml")
	if err := os.WriteFile(file, []byte(micro), 0o644); err != nil {
		t.Fatal(err)
	}
	// Tests run in bench/; the harness builds from the module root, which
	// it finds by itself.
	var stdout, stderr bytes.Buffer
	code := run([]string{"-out", filepath.Join(dir, "out"), file}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "micro: all 3 expectations hold") {
		t.Errorf("no verdict line in:\n%s", stdout.String())
	}
	runs, err := filepath.Glob(filepath.Join(dir, "out", "*-micro"))
	if err != nil || len(runs) != 1 {
		t.Fatalf("result directories %v, %v", runs, err)
	}
	for _, f := range []string{"scenario.yaml", "env.json", "summary.json", "report.md", "concurrent-20.bin", "percentiles.svg", "waterfall.svg"} {
		if _, err := os.Stat(filepath.Join(runs[0], f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	s, err := result.Read(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := s.Runs[0]
	if s.Limits == nil || r.Timing == nil || r.CallsPerRequest < 3.5 || r.CPU <= 0 || r.PeakRSS <= 0 {
		t.Errorf("incomplete figures: limits %v timing %v calls/req %.2f cpu %v rss %d", s.Limits, r.Timing, r.CallsPerRequest, r.CPU, r.PeakRSS)
	}
	// The floor block: each round of the gateway ran with the floor
	// beside it, sent the same requests, and the floor's row holds those
	// rounds.
	if s.Floor == nil {
		t.Fatal("no floor block")
	}
	gw, _ := s.Floor.Row("gateway")
	floor, _ := s.Floor.Floor()
	if len(gw.Rounds) != 3 || len(floor.Rounds) != 3 || gw.Error != "" || floor.Error != "" {
		t.Fatalf("floor block: gateway %+v, floor %+v", gw, floor)
	}
	for k, rd := range gw.Rounds {
		f := rd.Floor
		if f == nil || f.CPU != floor.Rounds[k].CPU || f.Requests != floor.Rounds[k].Requests {
			t.Fatalf("round %d of the gateway: floor beside it %+v, the floor's round %+v", k+1, f, floor.Rounds[k])
		}
		// The same rate for the same time: a loaded machine may leave
		// the last request or two of either side unsent, so the counts
		// agree within 2 %, and the ratio divides each CPU by its own.
		if diff := f.Requests - rd.Requests; rd.Requests == 0 || diff*50 > rd.Requests || -diff*50 > rd.Requests || f.CPU <= 0 || rd.CPU <= 0 {
			t.Errorf("round %d: the gateway served %d requests in %v of CPU, the floor beside it %d in %v", k+1, rd.Requests, rd.CPU, f.Requests, f.CPU)
		}
	}
	if ratio := gw.Ratio(floor); ratio.N != 3 || ratio.Median <= 1 {
		t.Errorf("the gateway's CPU over the floor's: %+v, want 3 rounds above 1", ratio)
	}

	// compare reads two result directories; a directory compared with
	// itself shows no change.
	stdout.Reset()
	if code := run([]string{"compare", runs[0], runs[0]}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "+0.0%") {
		t.Errorf("compare exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
}

func TestBadScenarioStartsNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(file, []byte("targets: [{path: /x}]\nload: {rates: [10], duraton: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"-out", filepath.Join(dir, "out"), file}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if want := file + ":2: load.duraton: unknown field"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not contain %q", stderr.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("a result directory was created for a bad file")
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"compare", "-h"}, {"report", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "Example") {
			t.Errorf("%v: exit %d, help %q", args, code, stderr.String())
		}
	}
}

func TestShippedScenariosCheck(t *testing.T) {
	var stdout, stderr bytes.Buffer
	files, _ := filepath.Glob("../scenarios/*.yaml")
	if code := run(append([]string{"-check"}, files...), &stdout, &stderr); code != 0 {
		t.Fatalf("-check of the shipped scenarios: exit %d\n%s", code, stderr.String())
	}
}

// TestCheckAcceptsCost: the cost scenario is valid, runs in the default
// suite, and is estimated at about a minute.
func TestCheckAcceptsCost(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-check", "../scenarios/cost.yaml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("-check cost.yaml: exit %d\n%s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "ok  ../scenarios/cost.yaml (cost, about ") {
		t.Errorf("-check said %q", stdout.String())
	}
	if !slices.Contains(harness.DefaultSuite, "cost") {
		t.Errorf("the default suite %v lacks cost", harness.DefaultSuite)
	}
	s, err := scenario.LoadFile("../scenarios/cost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Estimate(); d < 30*time.Second || d > 90*time.Second {
		t.Errorf("cost is estimated at %v, want about a minute", d)
	}
}

// TestReportReadme: bench report -readme puts a cost result's section into
// a README, in the place of the old one, and the repository's README has
// such a section, in the report's format.
func TestReportReadme(t *testing.T) {
	dir := t.TempDir()
	c := &result.Cost{Rate: 500, Duration: time.Second, Rounds: 1, Baseline: "off", Rows: []result.CostRow{
		{Name: "floor", Floor: true, Rounds: []result.CostRound{{Requests: 500, Success: 1, CPU: 150 * time.Millisecond, Allocs: 7500}}},
		{Name: "off", Rounds: []result.CostRound{{Requests: 500, Success: 1, CPU: 200 * time.Millisecond, Allocs: 22000}}},
	}}
	if err := result.Write(dir, &result.Scenario{Name: "cost", Cost: c}); err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(t.TempDir(), "README.md")
	old := "# Fanout\n\n" + report.CostHeading + "\n\nan old table\n\n## Next\n\nkept\n"
	if err := os.WriteFile(readme, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "-readme", readme, dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, _ := os.ReadFile(readme)
	got := string(b)
	if strings.Contains(got, "an old table") || !strings.Contains(got, "| off | 0.400 | 1.33× |  | 44.0 | 1/1 |") ||
		!strings.HasSuffix(got, "\n\n## Next\n\nkept\n") {
		t.Errorf("README after -readme:\n%s", got)
	}
	// Not a cost result: refused, the README untouched.
	talk := t.TempDir()
	if err := result.Write(talk, &result.Scenario{Name: "talk"}); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"report", "-readme", readme, talk}, &stdout, &stderr); code != 1 {
		t.Errorf("-readme with a talk result: exit %d, want 1", code)
	}
	if b2, _ := os.ReadFile(readme); string(b2) != got {
		t.Error("a refused -readme changed the README")
	}
	// The repository's README carries the section, with the report's
	// table header.
	repo, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := report.ReplaceSection(string(repo), report.CostHeading, ""); err != nil {
		t.Errorf("README.md: %v", err)
	}
	if header := report.CostTable(&result.Cost{}); !strings.Contains(string(repo), report.CostHeading+"\n") || !strings.Contains(string(repo), header) {
		t.Errorf("README.md has no cost table headed\n%s", header)
	}
}

// twoProblems is a scenario file with two problems on two lines.
const twoProblems = "targets: [{path: /x, weight: 0}]\nload: {rates: [10], duraton: 1s}\n"

// TestMakeBenchBadScenario runs the real command, as `make bench` does, on a
// file with two problems: both are listed and the exit status is 2, in the
// shell and through make (go run would have turned it into 1).
func TestMakeBenchBadScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bench binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(file, []byte(twoProblems), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "bench", "BIN="+bin, "BENCH_FLAGS=-out "+filepath.Join(dir, "out")+" "+file)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("make bench on a bad file: %v\n%s", err, out)
	}
	// make reports the status of the recipe line that failed.
	if !strings.Contains(string(out), "Error 2") {
		t.Errorf("make did not see exit status 2:\n%s", out)
	}
	for _, want := range []string{file + ":1: targets[0].weight", file + ":2: load.duraton: unknown field"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output does not list %q:\n%s", want, out)
		}
	}
	// The binary that make built exits 2 in the shell.
	err = exec.Command(filepath.Join(bin, "bench"), "-check", file).Run()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("bench -check on a bad file: %v, want exit status 2", err)
	}
}

// TestResolve finds a scenario by name, with or without .yaml, from a
// directory below the module root (tests run in bench/), and lists the known
// names on a miss.
func TestResolve(t *testing.T) {
	for _, arg := range []string{"talk", "talk.yaml"} {
		f, err := resolve("scenarios", arg)
		if err != nil {
			t.Errorf("resolve %s: %v", arg, err)
			continue
		}
		if _, err := os.Stat(f); err != nil || filepath.Base(f) != "talk.yaml" {
			t.Errorf("resolve %s = %s (%v), want scenarios/talk.yaml", arg, f, err)
		}
	}
	_, err := resolve("scenarios", "tlak")
	if err == nil || !strings.Contains(err.Error(), `no scenario "tlak"`) || !strings.Contains(err.Error(), "known: ") || !strings.Contains(err.Error(), "talk") {
		t.Errorf("a miss: %v, want the known names", err)
	}
	// A path that does not exist is not looked up by name.
	if _, err := resolve("scenarios", filepath.Join("nowhere", "talk.yaml")); err == nil {
		t.Error("a missing path was resolved")
	}
}

// TestCompareFlags runs bench compare on result directories: two runs on a
// side are read as repeated runs, -threshold takes a percentage, and a bad
// threshold is bad usage.
func TestCompareFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, p50 time.Duration) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		s := &result.Scenario{Name: "talk", Variants: []string{"concurrent"}, Rates: []float64{50},
			Runs: []result.Run{{Variant: "concurrent", Mode: "concurrent", Rate: 50}}}
		s.Runs[0].Latency.P50 = p50
		s.Runs[0].Success = 1
		if err := result.Write(d, s); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a1, a2 := write("a1", 40*time.Millisecond), write("a2", 42*time.Millisecond)
	b1, b2 := write("b1", 44*time.Millisecond), write("b2", 45*time.Millisecond)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", a1, a2, "vs", b1, b2}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "A has 2 runs, B 2") || !strings.Contains(stdout.String(), "41.00 (40.00–42.00)") ||
		!regexp.MustCompile(`p50 ms .*worse`).MatchString(stdout.String()) {
		t.Errorf("41 (40–42) -> 44.5 (44–45) is not shown as worse:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"compare", "-threshold", "10%", a1, a2, "vs", b1, b2}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if regexp.MustCompile(`p50 ms .*worse`).MatchString(stdout.String()) {
		t.Errorf("+8.5 %% under -threshold 10%% is called worse:\n%s", stdout.String())
	}
	if code := run([]string{"compare", "-threshold", "fast", a1, b1}, &stdout, &stderr); code != 2 {
		t.Errorf("a bad threshold: exit %d, want 2", code)
	}
	if code := run([]string{"compare", a1, "vs"}, &stdout, &stderr); code != 2 {
		t.Errorf("an empty side: exit %d, want 2", code)
	}
}

// TestReportRedraws rebuilds report.md and the charts of a result
// directory from its summary.json alone.
func TestReportRedraws(t *testing.T) {
	dir := t.TempDir()
	s := &result.Scenario{Name: "talk", Variants: []string{"concurrent"}, Rates: []float64{50},
		Runs: []result.Run{{Variant: "concurrent", Mode: "concurrent", Rate: 50, File: "concurrent-50.bin"}}}
	s.Runs[0].Latency.P50, s.Runs[0].Latency.P99, s.Runs[0].Latency.Max = 41*time.Millisecond, 50*time.Millisecond, 60*time.Millisecond
	s.Runs[0].Success = 1
	if err := result.Write(dir, s); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{"report.md", "percentiles.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("bench report did not write %s: %v", f, err)
		}
	}
	if code := run([]string{"report", filepath.Join(dir, "nope")}, &stdout, &stderr); code != 2 {
		t.Errorf("a directory without summary.json: exit %d, want 2", code)
	}
}

// TestReportRedrawsAnInterruptedRun: bench report on a run cut short
// redraws a report that says so at the top, and says so itself.
func TestReportRedrawsAnInterruptedRun(t *testing.T) {
	dir := t.TempDir()
	s := &result.Scenario{Name: "talk", Variants: []string{"sequential", "concurrent"}, Rates: []float64{50}, Interrupted: true,
		Runs: []result.Run{{Variant: "sequential", Mode: "sequential", Rate: 50, File: "sequential-50.bin"}}}
	s.Runs[0].Latency.P50, s.Runs[0].Latency.P99, s.Runs[0].Latency.Max = 85*time.Millisecond, 90*time.Millisecond, 95*time.Millisecond
	if err := result.Write(dir, s); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := "interrupted: its report holds the 1 step that finished"; !strings.Contains(stdout.String(), want) {
		t.Errorf("bench report does not say %q:\n%s", want, stdout.String())
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !bytes.Contains(md, []byte("**INTERRUPTED**")) {
		t.Errorf("report.md does not say the run was interrupted (%v)", err)
	}
	if err := os.WriteFile(filepath.Join(dir, result.SummaryFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"report", dir}, &stdout, &stderr); code != 2 {
		t.Errorf("a broken summary.json: exit %d, want 2", code)
	}
}

// TestSeedFlag: -seed N reaches the harness, 0 (the default) leaves it to
// draw a fresh seed per execution, and a seed that is not a number is bad
// usage.
func TestSeedFlag(t *testing.T) {
	var got []harness.Options
	captureOptions(t, &got)
	for _, c := range []struct {
		args []string
		seed uint64
	}{
		{[]string{"-seed", "42", "talk"}, 42}, // a replay of one execution
		{[]string{"talk"}, 0},                 // a fresh seed per execution
	} {
		var stdout, stderr bytes.Buffer
		got = nil
		if code := run(c.args, &stdout, &stderr); code != 0 || len(got) != 1 {
			t.Fatalf("%v: exit %d, %d runs: %s", c.args, code, len(got), stderr.String())
		}
		if got[0].Seed != c.seed {
			t.Errorf("%v: seed %d, want %d", c.args, got[0].Seed, c.seed)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-seed", "-1", "talk"}, &stdout, &stderr); code != 2 {
		t.Errorf("-seed -1: exit %d, want 2", code)
	}
	stderr.Reset()
	run([]string{"-h"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "-seed") {
		t.Errorf("-h does not document -seed:\n%s", stderr.String())
	}
}

// TestSummarySaysSuccessAndInterrupted: the end-of-run summary names the
// share of 2xx answers "success", as the report does, and says when a run
// was cut short.
func TestSummarySaysSuccessAndInterrupted(t *testing.T) {
	s := &result.Scenario{Name: "talk", Interrupted: true,
		Runs: []result.Run{{Variant: "pool", Mode: "pool", PoolSize: 16, Rate: 50}}}
	s.Runs[0].Success, s.Runs[0].Latency.P50, s.Runs[0].Latency.P99 = 0.995, 41*time.Millisecond, 48*time.Millisecond
	// 99.5 % success, of which only 27 % complete pages.
	s.Runs[0].Complete, s.Runs[0].Partial, s.Runs[0].Failed = 0.27, 0.725, 0.005
	// The generator sent 37 of the 50 req/s offered.
	s.Runs[0].GeneratorLimited, s.Runs[0].Summary.Rate = true, 37.2
	s.Runs[0].Requests = 250 // too few for a p99, as the report and the progress lines say
	s.Expectations = []result.Expectation{
		{Source: "pool.p50 < 1s", Pass: true, Verdict: result.Holds},
		{Source: "concurrent.p50 < 1s", Verdict: result.NotRun, Detail: "not run: the run was interrupted before this step"}}
	var out bytes.Buffer
	summarise(&out, harness.Outcome{Dir: "results/x-talk", Result: s})
	for _, want := range []string{"talk: INTERRUPTED", "1 of 2 expectations hold; 1 not run", "  not run concurrent.p50 < 1s", "complete  27.00%  partial  72.50%  failed   0.50%", "50 req/s offered, 37 sent, generator-limited", "pool (16)", "p99      n/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the summary:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), " ok ") || strings.Contains(out.String(), "FAIL") {
		t.Errorf("the summary still says ok, or calls a step never run failed:\n%s", out.String())
	}
}

// usageCase is a command line of a subcommand, the exit code it must give
// and what its standard error must say.
type usageCase struct {
	args     []string
	code     int
	inStderr string
}

// checkUsage runs each case's arguments after the subcommand cmd.
func checkUsage(t *testing.T, cmd string, tests []usageCase) {
	t.Helper()
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{cmd}, tc.args...)
		if code := run(args, &stdout, &stderr); code != tc.code {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.inStderr) {
			t.Errorf("run(%q): stderr lacks %q:\n%s", args, tc.inStderr, stderr.String())
		}
	}
}

func TestDemoUsage(t *testing.T) {
	checkUsage(t, "demo", []usageCase{
		{[]string{"-h"}, 0, "Examples:"},                    // help with examples
		{[]string{"-h"}, 0, "-mocks-bin binary"},            // help lists the flags too
		{[]string{"nonsense"}, 2, `unknown act "nonsense"`}, // acts are checked before anything starts
		{[]string{"-rates", "50,10"}, 2, "rising"},          // rates must rise
		{[]string{"-rates", "50,x"}, 2, `"x" is not a whole number`},
		{[]string{"-pool-loads", "0.5,y"}, 2, `"y" is not a number`},
		{[]string{"-slow", "10ms", "-fast", "20ms"}, 2, "-slow"},
		{[]string{"-color", "sometimes"}, 2, "-color"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	})
}

// TestDemoFlags checks the options the demo's flags make: acts on either
// side of the flags, the quick preset, and explicit flags winning over it.
func TestDemoFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	o, code := parseDemo([]string{"load", "-quick", "-step", "1s", "-pool-loads", "0.25,2", "pool", "-color", "never",
		"-gateway-bin", "/bin/gw"}, &stdout, &stderr)
	if o == nil {
		t.Fatalf("parseDemo: code %d, stderr:\n%s", code, stderr.String())
	}
	quick := demo.DefaultOptions(&stdout)
	quick.Quick()
	if !slices.Equal(o.Acts, []string{"load", "pool"}) {
		t.Errorf("acts %q, want load and pool", o.Acts)
	}
	if o.Step != time.Second {
		t.Errorf("step %v: an explicit -step must win over -quick", o.Step)
	}
	if !slices.Equal(o.PoolLoads, []float64{0.25, 2}) {
		t.Errorf("pool loads %v, want the explicit 0.25,2", o.PoolLoads)
	}
	if o.Slow != quick.Slow || o.PoolSize != quick.PoolSize || !slices.Equal(o.LoadFactors, quick.LoadFactors) {
		t.Errorf("slow %v, pool size %d, load factors %v: want the quick preset's %v, %d, %v",
			o.Slow, o.PoolSize, o.LoadFactors, quick.Slow, quick.PoolSize, quick.LoadFactors)
	}
	if o.Colour || o.Bins.Gateway != "/bin/gw" || o.Bins.Mocks != "" {
		t.Errorf("colour %v, binaries %+v: want no colour and only the gateway given", o.Colour, o.Bins)
	}
}

// TestCheckRefusesUnroutedTargets: a target no operation serves (a typo in
// the path, a wrong method) is refused at -check and before a run, with
// the gateway's operations listed; a run of it would get only 404s.
func TestCheckRefusesUnroutedTargets(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, targets, want string
	}{
		// The case: "experiment" for "experiments".
		{"typo", `[{path: "/v2/experiment/{id}/results", ids: 1-10}]`, "targets[0]: no operation of the gateway serves GET /v2/experiment/{id}/results"},
		// A path that exists, with a method it does not take.
		{"method", `[{method: DELETE, path: "/v2/experiments/{id}/results", ids: 1-10}]`, "targets[0]: no operation of the gateway serves DELETE"},
		// One segment too many.
		{"longer", `[{path: "/v2/projects/1/x"}]`, "targets[0]: no operation of the gateway serves GET /v2/projects/1/x"},
	} {
		file := filepath.Join(dir, c.name+".yaml")
		if err := os.WriteFile(file, []byte("targets: "+c.targets+"\nload: {rates: [10]}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"-check", file}, {"-out", filepath.Join(dir, "out"), file}} {
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 2 {
				t.Errorf("%s %v: exit %d, want 2\n%s", c.name, args, code, stderr.String())
			}
			for _, want := range []string{file + ": " + c.want, "GET /v2/experiments/{experiment_id}/results"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("%s %v: stderr does not say %q:\n%s", c.name, args, want, stderr.String())
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("a result directory was created for an unrouted target")
	}
	// Every operation's own path passes, with a query string too.
	file := filepath.Join(dir, "ok.yaml")
	src := "targets: [{path: \"/v2/experiments/{id}/results?page_size=5\", ids: 1-10}, {path: /v2/projects/3}]\nload: {rates: [10]}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-check", file}, &stdout, &stderr); code != 0 {
		t.Errorf("-check of served targets: exit %d\n%s", code, stderr.String())
	}
}

// TestOutsideTheRepository runs the bench binary from a directory outside
// the repository: built elsewhere, it says where the scenarios are and
// exits 2, before anything starts, for a name and for a file alike; built
// in the repository's bin/ (as make bench does), it finds the scenarios
// by itself.
func TestOutsideTheRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bench binary")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	bin := filepath.Join(elsewhere, "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	quick := filepath.Join(root, "scenarios", "quick.yaml")
	for _, args := range [][]string{{"-check", "talk"}, {"talk"}, {"-out", filepath.Join(elsewhere, "out"), quick}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = elsewhere
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("bench %v outside the repository: %v, want exit status 2\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "run bench from the repository's checkout") {
			t.Errorf("bench %v does not say where the scenarios are:\n%s", args, out)
		}
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "out")); !os.IsNotExist(err) {
		t.Errorf("a run started outside the repository: %v", err)
	}

	// The binary in the repository's bin/ finds them from anywhere.
	inRepo := filepath.Join(root, "bin", "bench-test-"+filepath.Base(elsewhere))
	if err := os.MkdirAll(filepath.Dir(inRepo), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(inRepo) })
	if out, err := exec.Command("go", "build", "-o", inRepo, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(inRepo, "-check", "talk")
	cmd.Dir = elsewhere
	out, err := cmd.CombinedOutput()
	if want := "ok  " + filepath.Join(root, "scenarios", "talk.yaml"); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("bin/bench -check talk from %s: %v, want %q\n%s", elsewhere, err, want, out)
	}
}

// TestReadmeCurlExamplesCarryTheToken: every curl example of the README
// that calls /v2 sends the token, and under one name, $FANOUT_TOKEN (the
// SDK example's default too), so that a newcomer who sets it once can paste
// each example. Only the gateway's own start-up line shows a literal token.
func TestReadmeCurlExamplesCarryTheToken(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "curl ") || !strings.Contains(line, ":8080") {
			continue
		}
		n++
		if strings.Contains(line, "Bearer dev_") {
			continue // what the gateway prints at start-up
		}
		if !strings.Contains(line, `-H "Authorization: Bearer $FANOUT_TOKEN"`) {
			t.Errorf("README.md:%d: a curl example without the token $FANOUT_TOKEN: %s", i+1, line)
		}
	}
	if n < 5 {
		t.Errorf("found %d curl examples in README.md, want the 304, paging and token ones at least", n)
	}
	for _, other := range []string{"$TOKEN", "$secret"} {
		if strings.Contains(string(b), other) {
			t.Errorf("README.md names the token %s too: one name, $FANOUT_TOKEN", other)
		}
	}
}

// TestReadmeListsThePrerequisites: the README names what make test needs
// beyond Go, each program .ci/run installs, and the Go version of go.mod.
func TestReadmeListsThePrerequisites(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	_, section, _ := strings.Cut(string(readme), "## Prerequisites\n")
	section, _, _ = strings.Cut(section, "\n## ")
	want := []string{"Go " + string(goLine[1]), "chromium", "redis-server", "node", "npm", ".ci/run", "apt-get"}
	// Every package .ci/run installs is named with its apt-get line.
	for _, m := range regexp.MustCompile(`missing\+=\(([^)]*)\)`).FindAllStringSubmatch(string(ci), -1) {
		want = append(want, "apt-get install "+m[1])
	}
	for _, w := range want {
		if !strings.Contains(section, w) {
			t.Errorf("the README's prerequisites do not name %q:\n%s", w, section)
		}
	}
}

func TestFleetUsage(t *testing.T) {
	checkUsage(t, "fleet", []usageCase{
		{[]string{"-h"}, 0, "Examples:"},               // help with examples
		{[]string{"-h"}, 0, "-addr HOST:PORT"},         // help lists the flags too
		{[]string{"-replicas", "0"}, 2, "-replicas 0"}, // checked before anything starts
		{[]string{"-rate", "0"}, 2, "-rate 0"},
		{[]string{"-drain-delay", "0s"}, 2, "-drain-delay 0s"},
		{[]string{"three"}, 2, "unexpected arguments: three"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	})
}

func TestStageUsage(t *testing.T) {
	checkUsage(t, "stage", []usageCase{
		{[]string{"-h"}, 0, "Examples:"},                        // help with examples
		{[]string{"-h"}, 0, "-gateway-addr HOST:PORT"},          // help lists the flags too
		{[]string{"-mode", "async"}, 2, `unknown mode "async"`}, // checked before anything starts
		{[]string{"-mode", "pool", "-pool-size", "0"}, 2, "pool size 0"},
		{[]string{"-rate", "-3"}, 2, "-rate -3"},
		{[]string{"-window", "10ms"}, 2, "-window"},
		{[]string{"blocking"}, 2, "unexpected arguments: blocking"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	})
}

// TestMakeStageInterrupt runs `make stage` as a terminal would, waits for
// the page, then presses Ctrl-C (SIGINT to the whole process group): the
// page and the gateway's stable address stop answering, and no process
// the stage started is left.
func TestMakeStageInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bench binary and starts the stage")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	open := regexp.MustCompile(`^stage: open (http://\S+) \(gateway at (\S+)\)`)
	// The processes: the gateway and the mocks.
	m, _ := makeUntilCtrlC(t, "stage", open, 2, func(m []string, _ string) {
		resp, err := client.Get(m[1])
		if err != nil {
			t.Fatalf("GET %s: %v", m[1], err)
		}
		resp.Body.Close()
	}, "STAGE_FLAGS=-rate 5")
	for _, u := range []string{m[1], "http://" + m[2] + "/"} {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Ctrl-C", u)
		}
	}
}

// TestMakeFleetInterrupt runs `make fleet` as a terminal would: it prints
// the fleet's URL and a token, a GET with them through HAProxy is served,
// and Ctrl-C stops every process of the fleet, cleanly.
func TestMakeFleetInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bench binary and starts a fleet")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	ready := regexp.MustCompile(`^fleet: Ctrl-C stops everything`)
	var url string
	// The processes: Redis, the mocks, two gateways and HAProxy.
	_, stderr := makeUntilCtrlC(t, "fleet", ready, 5, func(_ []string, stdout string) {
		lb := regexp.MustCompile(`(?m)^fleet: 2 gateways behind HAProxy at (http://\S+)`).FindStringSubmatch(stdout)
		token := regexp.MustCompile(`(?m)^export FANOUT_TOKEN=(\S+)$`).FindStringSubmatch(stdout)
		if lb == nil || token == nil {
			t.Fatalf("make fleet printed no URL or no token:\n%s", stdout)
		}
		url = lb[1] + "/v2/experiments/42/results"
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token[1])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the printed token: %s, want 200 OK", url, resp.Status)
		}
	}, "FLEET=2", "FLEET_FLAGS=-drain-delay 500ms")
	// Ctrl-C reaches every process of the fleet at once: each ending so is
	// a clean stop, not a failure to report.
	if strings.Contains(stderr, "fleet: stop ") {
		t.Errorf("make fleet reports a failed stop after Ctrl-C:\n%s", stderr)
	}
	if resp, err := client.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after Ctrl-C", url)
	}
}

// makeUntilCtrlC runs `make target vars...` as a terminal would, waits for
// the line of standard output that ready matches, checks that the bench
// binary runs at least procs processes, calls up with the line's
// submatches and the standard output so far, then presses Ctrl-C (SIGINT to the whole process group): make
// must end within 30 s, the command must say "TARGET: stopping", and no
// process it started may be left. It returns the submatches and what make
// wrote on standard error.
func makeUntilCtrlC(t *testing.T, target string, ready *regexp.Regexp, procs int, up func(m []string, stdout string), vars ...string) ([]string, string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", "..", target, "BIN=" + t.TempDir()}, vars...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 16)
	var stdout strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	interrupt := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()

	var m []string
	timeout := time.After(2 * time.Minute)
	for m == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("make %s ended before it was up:\n%s", target, stderr.String())
			}
			stdout.WriteString(l + "\n")
			m = ready.FindStringSubmatch(l)
		case <-timeout:
			interrupt()
			t.Fatalf("make %s not up within 2 minutes:\n%s", target, stderr.String())
		}
	}
	// The processes the command started: children of the bench binary,
	// itself a child of make.
	var started []int
	for _, parent := range childrenOf(cmd.Process.Pid) {
		started = append(started, childrenOf(parent)...)
	}
	if len(started) < procs {
		t.Errorf("make %s runs %d processes (%v), want %d", target, len(started), started, procs)
	}
	up(m, stdout.String())

	interrupt()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("make %s still runs 30 s after Ctrl-C:\n%s", target, stderr.String())
	}
	if !strings.Contains(stderr.String(), target+": stopping") {
		t.Errorf("make %s did not say it stopped:\n%s", target, stderr.String())
	}
	for _, pid := range started {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d that make %s started still runs after Ctrl-C", pid, target)
		}
	}
	return m, stderr.String()
}

// childrenOf lists the child processes of pid (Linux's /proc; none
// elsewhere). Each thread lists the children it forked, and a Go program
// forks from any of its threads: every thread is read.
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestStageInterruptedWhileStarting: SIGTERM to bench stage alone while
// the mocks are starting stops them and exits 130 at once, rather than when
// the start times out. (Ctrl-C in a terminal signals the mocks too; a
// supervisor's kill signals bench only.)
func TestStageInterruptedWhileStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and the bench binary")
	}
	dir := t.TempDir()
	// Mocks that never announce themselves.
	mocks := filepath.Join(dir, "mocks")
	if err := os.WriteFile(mocks, []byte("#!/bin/sh\nexec sleep 120\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "stage", "BIN="+dir, "STAGE_FLAGS=-mocks-bin "+mocks)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait until the stage runs the fake mocks: the build is done and the
	// start is under way.
	var sleeper, benchPid int
	end := time.Now().Add(2 * time.Minute)
	for sleeper == 0 && time.Now().Before(end) {
		for _, bench := range childrenOf(cmd.Process.Pid) {
			for _, kid := range childrenOf(bench) {
				// make's first child is go build, whose children compile.
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kid)); strings.HasPrefix(string(b), "sleep\x00") {
					sleeper, benchPid = kid, bench
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sleeper == 0 {
		t.Fatalf("the stage never started the mocks:\n%s", out.String())
	}
	_ = syscall.Kill(benchPid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("make stage still runs 15 s after SIGTERM during the start:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "stage: interrupted while starting") || !strings.Contains(out.String(), "Error 130") {
		t.Errorf("want the stage to say it was interrupted and exit 130:\n%s", out.String())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", sleeper)); err == nil {
		t.Errorf("the mocks (pid %d) still run after SIGTERM", sleeper)
	}
}
