package load

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// A Shard is what one generator sent of an attack split across several:
// when its attack started, its results in vegeta's encoding, and its own
// CPU figures (Report.GeneratorCPU and GeneratorCPUShare).
type Shard struct {
	Start    time.Time
	Results  io.Reader
	CPU      time.Duration
	CPUShare float64
	// Wait is the time the shard's generator waited for a CPU (see
	// Report.GeneratorWait).
	Wait time.Duration
}

// Spawn runs share i of an attack, a (Attack.Share), in a generator of its
// own (a process, on this machine or another), and returns its Shard. It
// is called concurrently, once per share; the Shard's Results stay
// readable until Merge returns.
type Spawn func(ctx context.Context, i int, a Attack) (Shard, error)

// Share returns share i (from 0) of n of the attack: the same targets,
// duration and phases at 1/n of each rate, and a seed of its own, so that
// the shards draw different ids. n shards together offer the attack's
// rates.
func (a Attack) Share(i, n int) Attack {
	s := a
	s.Rate = a.Rate / float64(n)
	s.PhaseRates = nil
	for _, r := range a.PhaseRates {
		s.PhaseRates = append(s.PhaseRates, r/float64(n))
	}
	// Seeds of shards lie far apart: a scenario's seed, its warm-up's
	// (+1) and its hostile tenant's (+2) never meet them.
	s.Seed = a.Seed + uint64(i)<<32
	s.Generators, s.Spawn, s.At, s.Out = 0, nil, nil, nil
	return s
}

// Merge computes the Report of an attack a whose requests were sent by
// shards, each its own share of a's rate (Share), from their results
// merged: every percentile comes from the merged latencies, never from
// the shards' own. A result's offset counts from its own shard's start,
// so shards started a moment apart (on several hosts) line up.
// The results are also written, ordered by offset, to a.Out.
//
// GeneratorCPU is the shards' sum. GeneratorCPUShare is that sum over the
// wall time and a.CPUs where a.CPUs is set (shards sharing one machine's
// CPUs), else the busiest shard's own share (shards on hosts of their own).
func Merge(a Attack, shards []Shard) (*Report, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("merge %s: no shards", a.Name)
	}
	pacer, err := a.pacer()
	if err != nil {
		return nil, err
	}
	type timed struct {
		r      *vegeta.Result
		offset time.Duration
	}
	var all []timed
	var end time.Time
	start := shards[0].Start
	for i, sh := range shards {
		start = minTime(start, sh.Start)
		dec := vegeta.NewDecoder(sh.Results)
		for {
			var r vegeta.Result
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("merge %s: shard %d: %w", a.Name, i+1, err)
			}
			all = append(all, timed{&r, r.Timestamp.Sub(sh.Start)})
			if e := r.Timestamp.Add(r.Latency); e.After(end) {
				end = e
			}
		}
	}
	slices.SortStableFunc(all, func(x, y timed) int { return cmp.Compare(x.offset, y.offset) })
	// The shards' results files keep no bodies: there are none to compare.
	a.Bodies = false
	c := newCollector(a, matchTargets(a.Targets))
	for _, t := range all {
		c.add(t.r, t.offset)
	}
	rep, err := c.report(a.Duration, pacer)
	if err != nil {
		return nil, err
	}
	rep.Start, rep.Generators = start, len(shards)
	var busiest float64
	for _, sh := range shards {
		rep.GeneratorCPU += sh.CPU
		rep.GeneratorWait += sh.Wait
		busiest = max(busiest, sh.CPUShare)
	}
	rep.GeneratorCPUShare = busiest
	if wall := end.Sub(start); a.CPUs > 0 && wall > 0 {
		rep.GeneratorCPUShare = float64(rep.GeneratorCPU) / float64(wall) / float64(a.CPUs)
	}
	return rep, nil
}

// runShards runs a across a.Generators generators (a.Spawn), with its
// events here, and merges their results.
func runShards(ctx context.Context, a Attack) (*Report, error) {
	n := a.Generators
	shards := make([]Shard, n)
	errs := make([]error, n)
	stopTimers := schedule(ctx, time.Now(), a.Phases, a.At)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { shards[i], errs[i] = a.Spawn(ctx, i, a.Share(i, n)) })
	}
	wg.Wait()
	stopTimers()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("attack %s: generator %d of %d: %w", a.Name, i+1, n, err)
		}
	}
	rep, err := Merge(a, shards)
	if err != nil {
		return nil, err
	}
	return rep, ctx.Err()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// matchTargets returns a func that names the target of a request URL by
// its path: shards run in other processes, so the names their own
// targeters kept are not here. A path matches a target's where its {id}
// holds digits; a URL no target matches has no name.
func matchTargets(targets []Target) func(string) string {
	return func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			return ""
		}
		path := u.Path
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		for _, t := range targets {
			if pathMatches(t.Path, path) {
				return t.Name
			}
		}
		return ""
	}
}

// pathMatches reports whether path is template with each "{id}" replaced
// by digits.
func pathMatches(template, path string) bool {
	parts := strings.Split(template, "{id}")
	if !strings.HasPrefix(path, parts[0]) {
		return false
	}
	path = path[len(parts[0]):]
	for _, part := range parts[1:] {
		n := 0
		for n < len(path) && path[n] >= '0' && path[n] <= '9' {
			n++
		}
		if n == 0 || !strings.HasPrefix(path[n:], part) {
			return false
		}
		path = path[n+len(part):]
	}
	return path == ""
}
