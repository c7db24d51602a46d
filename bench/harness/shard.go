package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
	"fanout/bench/scenario"
)

// ShardManifest is the file in which a shard directory (bench attack
// -out) says what its results files hold.
const ShardManifest = "shard.json"

// Shard is what a shard directory holds: share Shard of Of of a
// scenario's load, sent to Target, step by step.
type Shard struct {
	Scenario string      `json:"scenario"`
	Shard    int         `json:"shard"` // from 1
	Of       int         `json:"of"`
	Target   string      `json:"target"`
	Steps    []ShardStep `json:"steps"`
}

// ShardStep is one step of a shard: its share of the step's Rate (the whole
// step's, in requests per second) for Duration from Start, in File
// (vegeta's results format), and the generator's CPU over it.
type ShardStep struct {
	Name     string        `json:"name"`
	Variant  string        `json:"variant"`
	Rate     float64       `json:"rate"`
	File     string        `json:"file"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	CPU      time.Duration `json:"generator_cpu"`
	CPUShare float64       `json:"generator_cpu_share"`
	Wait     time.Duration `json:"generator_cpu_wait"`
}

// AttackOptions configure RunShard.
type AttackOptions struct {
	// Shard of Of (from 1) is the share to send.
	Shard, Of int
	// Target is the gateway's root URL, Authorization the header sent.
	Target, Authorization string
	// Rate, if set, is the one step to run, at the whole step's rate;
	// none: every rate of the scenario.
	Rate float64
	// Duration, if set, replaces the scenario's; Warmup, if not nil, too
	// (the harness warms its gateway up itself).
	Duration time.Duration
	Warmup   *time.Duration
	// Out is the shard directory to write.
	Out string
	// Progress receives a line per step (nil: none).
	Progress io.Writer
}

// RunShard sends share o.Shard of o.Of of each step of s to o.Target, and
// writes its results and a ShardManifest to o.Out, which bench merge reads
// with the other shards'. Each step warms up with its share of the
// warm-up. A capacity search runs one probe at a time (o.Rate, as the
// harness's generators do): a search picks its next rate from the last
// probe's figures, which only the merged shards have.
func RunShard(ctx context.Context, s *scenario.Scenario, o AttackOptions) error {
	if s.Load.Capacity != nil && o.Rate == 0 {
		return fmt.Errorf("%s: a capacity search cannot run in shards: each probe's rate depends on the merged figures of the last", s.File)
	}
	if o.Of < 1 || o.Shard < 1 || o.Shard > o.Of {
		return fmt.Errorf("shard %d/%d: want i/N with 1 <= i <= N", o.Shard, o.Of)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("create shard directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Out, "scenario.yaml"), s.Source, 0o644); err != nil {
		return fmt.Errorf("copy scenario: %w", err)
	}
	rates := s.Load.Rates
	if o.Rate > 0 {
		rates = []float64{o.Rate}
	}
	d, warm := s.Load.Duration, s.Load.Warmup
	if o.Duration > 0 {
		d = o.Duration
	}
	if o.Warmup != nil {
		warm = *o.Warmup
	}
	sh := Shard{Scenario: s.Name, Shard: o.Shard, Of: o.Of, Target: o.Target}
	v := targetVariants(s, Options{Target: o.Target})[0]
	for _, rate := range rates {
		a := stepAttack(s, v, rate, d, o.Target, o.Authorization).Share(o.Shard-1, o.Of)
		if warm > 0 {
			w := a
			w.Name, w.Duration, w.Seed, w.PhaseRates, w.Phases, w.PhaseNames = a.Name+"-warmup", warm, a.Seed+1, nil, nil, nil
			if _, err := load.Run(ctx, w); err != nil {
				return fmt.Errorf("warm up %s: %w", a.Name, err)
			}
		}
		step := ShardStep{Name: a.Name, Variant: v.Label, Rate: rate, File: a.Name + ".bin", Duration: d}
		f, err := os.Create(filepath.Join(o.Out, step.File))
		if err != nil {
			return fmt.Errorf("create results file: %w", err)
		}
		a.Out = f
		wait0, werr := launch.ReadWait(os.Getpid())
		rep, err := load.Run(ctx, a)
		if wait1, err := launch.ReadWait(os.Getpid()); werr == nil && err == nil {
			step.Wait = wait1 - wait0
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write results file: %w", cerr)
		}
		if err != nil {
			return fmt.Errorf("attack %s, shard %d/%d: %w", a.Name, o.Shard, o.Of, err)
		}
		step.Start, step.CPU, step.CPUShare = rep.Start, rep.GeneratorCPU, rep.GeneratorCPUShare
		sh.Steps = append(sh.Steps, step)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%s shard %d/%d: %d requests at %.1f/s sent, generator cpu %.0f%%\n", a.Name, o.Shard, o.Of, rep.Requests, rep.Summary.Rate, 100*rep.GeneratorCPUShare)
		}
	}
	b, err := json.MarshalIndent(sh, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", ShardManifest, err)
	}
	if err := os.WriteFile(filepath.Join(o.Out, ShardManifest), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", ShardManifest, err)
	}
	return nil
}

// stepAttack is the attack of variant v's step at rate for d against
// base: the scenario's targets, timeout, seed and phases, without events
// on backends (the harness adds those where it plays them).
func stepAttack(s *scenario.Scenario, v scenario.Variant, rate float64, d time.Duration, base, auth string) load.Attack {
	a := load.Attack{
		Name: scenario.RunName(v.Label, rate), BaseURL: base, Targets: s.Targets, Rate: rate, Duration: d,
		Timeout: s.Load.Timeout, Seed: s.Load.Seed, Authorization: auth,
	}
	withPhases(s, &a)
	return a
}

// readShard reads the manifest of a shard directory.
func readShard(dir string) (Shard, error) {
	var sh Shard
	b, err := os.ReadFile(filepath.Join(dir, ShardManifest))
	if err != nil {
		return sh, fmt.Errorf("read shard: %w", err)
	}
	if err := json.Unmarshal(b, &sh); err != nil {
		return sh, fmt.Errorf("read shard %s: %w", dir, err)
	}
	return sh, nil
}

// openShards opens the results file of step name in each of dirs, whose
// manifests are shards, as load.Shards; close closes them.
func openShards(dirs []string, shards []Shard, name string) (out []load.Shard, closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for i, sh := range shards {
		k := slices.IndexFunc(sh.Steps, func(st ShardStep) bool { return st.Name == name })
		if k < 0 {
			closeAll()
			return nil, nil, fmt.Errorf("shard %s has no step %s", dirs[i], name)
		}
		st := sh.Steps[k]
		f, err := os.Open(filepath.Join(dirs[i], st.File))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("open shard results: %w", err)
		}
		files = append(files, f)
		out = append(out, load.Shard{Start: st.Start, Results: f, CPU: st.CPU, CPUShare: st.CPUShare, Wait: st.Wait})
	}
	return out, closeAll, nil
}

// MergeShards builds one result directory under opts.Out from the shard
// directories dirs (bench attack -out), as one generator would have: every
// step's figures from the merged results of its shards, the
// expectations judged on them, summary.json, the report, and one results
// file per step. The shards must be every share of one scenario's load,
// each once.
func MergeShards(ctx context.Context, dirs []string, opts Options) (Outcome, error) {
	if len(dirs) == 0 {
		return Outcome{}, errors.New("merge: no shard directories")
	}
	var shards []Shard
	seen := map[int]string{}
	for _, d := range dirs {
		sh, err := readShard(d)
		if err != nil {
			return Outcome{}, err
		}
		if first := shards; len(first) > 0 && (sh.Scenario != first[0].Scenario || sh.Of != first[0].Of) {
			return Outcome{}, fmt.Errorf("merge: %s is shard %d/%d of %s, %s of %d/%d of %s: shards of one attack only",
				d, sh.Shard, sh.Of, sh.Scenario, dirs[0], first[0].Shard, first[0].Of, first[0].Scenario)
		}
		if prev, dup := seen[sh.Shard]; dup {
			return Outcome{}, fmt.Errorf("merge: %s and %s are both shard %d/%d", prev, d, sh.Shard, sh.Of)
		}
		seen[sh.Shard] = d
		shards = append(shards, sh)
	}
	if len(shards) != shards[0].Of {
		var missing []string
		for i := 1; i <= shards[0].Of; i++ {
			if _, ok := seen[i]; !ok {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		return Outcome{}, fmt.Errorf("merge: %d of %d shards: shard %s missing; their load was offered, and leaving it out would understate the rate",
			len(shards), shards[0].Of, strings.Join(missing, ", "))
	}
	s, err := scenario.LoadFile(filepath.Join(dirs[0], "scenario.yaml"))
	if err != nil {
		return Outcome{}, fmt.Errorf("merge: %w", err)
	}
	s.Name = shards[0].Scenario
	if opts.Out == "" {
		opts.Out = "results"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	env := Environment(ctx)
	env.Split = &launch.Split{Note: fmt.Sprintf("merged from %d shards (bench attack): the generators ran where the shards ran, and the gateway's CPU was not measured", len(shards))}
	dir := filepath.Join(opts.Out, opts.Now().UTC().Format("20060102T150405Z")+"-"+s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Outcome{}, fmt.Errorf("create result directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.yaml"), s.Source, 0o644); err != nil {
		return Outcome{}, fmt.Errorf("copy scenario: %w", err)
	}
	if err := writeEnv(dir, env); err != nil {
		return Outcome{}, err
	}
	target := shards[0].Target
	res := &result.Scenario{Name: s.Name, Description: s.Description, File: s.File, Started: shards[0].Steps[0].Start.UTC(), Env: env,
		Phases: s.Phases(), Target: target,
		LimitsNote: fmt.Sprintf("No limits are known: the shards ran against a gateway bench did not start (%s), whose backends' latencies it does not know.", target)}
	for _, t := range s.Targets {
		res.Targets = append(res.Targets, t.Name)
	}
	for _, st := range shards[0].Steps {
		if !slices.Contains(res.Variants, st.Variant) {
			res.Variants = append(res.Variants, st.Variant)
		}
		if !slices.Contains(res.Rates, st.Rate) {
			res.Rates = append(res.Rates, st.Rate)
		}
		v := scenario.Variant{Label: st.Variant}
		a := stepAttack(s, v, st.Rate, st.Duration, target, "")
		f, err := os.Create(filepath.Join(dir, st.Name+".bin"))
		if err != nil {
			return Outcome{}, fmt.Errorf("create results file: %w", err)
		}
		a.Out = f
		in, closeAll, err := openShards(dirs, shards, st.Name)
		if err != nil {
			_ = f.Close()
			return Outcome{}, fmt.Errorf("merge: %w", err)
		}
		rep, err := load.Merge(a, in)
		closeAll()
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write results file: %w", cerr)
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("merge %s: %w", st.Name, err)
		}
		run := result.Run{Variant: st.Variant, Rate: st.Rate, File: st.Name + ".bin", Report: *rep}
		run.GeneratorLimited = rep.Limited(run.OfferedRate())
		res.Runs = append(res.Runs, run)
	}
	res.Expectations = evaluate(s, res)
	r := &runner{s: s, dir: dir, opts: opts, res: res}
	if err := r.write(time.Now()); err != nil {
		return Outcome{Dir: dir, Result: res}, err
	}
	return Outcome{Dir: dir, Result: res}, nil
}

// spawnGenerator returns the load.Spawn of a, a step whose rate is split
// across generator processes (load.generators): each runs bench attack
// (Options.Generator) for its share into a shard directory of its own
// under the result directory, removed once read.
func (r *runner) spawnGenerator(a load.Attack) load.Spawn {
	n := a.Generators
	return func(ctx context.Context, i int, share load.Attack) (load.Shard, error) {
		dir := filepath.Join(r.dir, "generators", fmt.Sprintf("%s-%d", a.Name, i+1))
		cmd := r.opts.Generator
		if len(cmd) == 0 {
			exe, err := os.Executable()
			if err != nil {
				return load.Shard{}, fmt.Errorf("find bench to run generators: %w", err)
			}
			cmd = []string{exe, "attack"}
		}
		args := append(slices.Clip(cmd[1:]), "-shard", fmt.Sprintf("%d/%d", i+1, n), "-target", a.BaseURL,
			"-rate", load.FormatRate(a.Rate), "-duration", a.Duration.String(), "-warmup", "0s", "-quiet", "-out", dir,
			filepath.Join(r.dir, "scenario.yaml"))
		c := exec.CommandContext(ctx, cmd[0], args...)
		c.Env = append(os.Environ(), TokenEnv+"="+strings.TrimPrefix(a.Authorization, "Bearer "))
		c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
		c.WaitDelay = launch.DefaultGrace
		if out, err := c.CombinedOutput(); err != nil {
			return load.Shard{}, fmt.Errorf("generator %d: %w: %s", i+1, err, strings.TrimSpace(string(out)))
		}
		sh, err := readShard(dir)
		if err != nil || len(sh.Steps) != 1 {
			return load.Shard{}, fmt.Errorf("generator %d: %v (%d steps)", i+1, err, len(sh.Steps))
		}
		// The merge writes the step's one results file: the shard's goes.
		st := sh.Steps[0]
		b, err := os.ReadFile(filepath.Join(dir, st.File))
		if err != nil {
			return load.Shard{}, fmt.Errorf("generator %d: %w", i+1, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return load.Shard{}, fmt.Errorf("generator %d: %w", i+1, err)
		}
		_ = os.Remove(filepath.Dir(dir)) // fails, harmlessly, unless empty
		return load.Shard{Start: st.Start, Results: bytes.NewReader(b), CPU: st.CPU, CPUShare: st.CPUShare, Wait: st.Wait}, nil
	}
}

// TokenEnv is the environment variable from which bench attack, and bench
// -target, read the token they send.
const TokenEnv = "FANOUT_TOKEN"
