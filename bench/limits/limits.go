// Package limits computes what no gateway can beat: for each public
// operation, the call graph of its backend calls (the very plans the
// gateway runs, from package assembly) and, given the mock backends'
// latency models, the distribution of
//
//   - the critical path: the longest chain of dependent calls, what a
//     perfectly concurrent gateway costs;
//   - the level sum: each dependency level's slowest call, added up, what
//     "gather each step" costs;
//   - the sum: every call one after another, what a sequential gateway costs.
//
// With fixed models these are single numbers; with random models they are
// distributions, computed by sampling each call's model through the graph,
// so that an observed p99 is compared with the ideal p99 rather than with a
// median.
package limits

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"fanout/bench/dist"
	"fanout/gateway/assembly"
	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

// Precision is the relative uncertainty Compute samples random limits to:
// it adds batches until the 95 % confidence interval of every limit's p50
// and p99 is within ±1 % of it, or MaxBatches have run.
const (
	Precision  = 0.01
	MinBatches = 4
	MaxBatches = 30
)

// Op is one public operation whose responses fan out to backends: its
// operationId, method, path template and plan, as the gateway has them.
type Op = assembly.Plan

// Gateway returns the operations of the gateway's embedded document that
// fan out, with the plans the gateway compiles from it and runs: the same
// values, not a reading of the document of their own.
func Gateway() ([]Op, error) {
	ops, err := assembly.Plans()
	if err != nil {
		return nil, fmt.Errorf("gateway plans: %w", err)
	}
	return ops, nil
}

// refRE finds the {references} of a call's path template.
var refRE = regexp.MustCompile(`\{([^{}]+)\}`)

// Match returns the operation that serves method and path (a concrete path or
// a template; query strings are ignored). A literal segment wins over a
// template segment, as routers do.
func Match(ops []Op, method, path string) (Op, bool) {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	best, bestScore := Op{}, -1
	for _, op := range ops {
		if op.Method != strings.ToUpper(method) {
			continue
		}
		tsegs := strings.Split(op.Path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		score := 0
		ok := true
		for i, t := range tsegs {
			switch {
			case isParam(t) || isParam(segs[i]):
			case t == segs[i]:
				score++
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok && score > bestScore {
			best, bestScore = op, score
		}
	}
	return best, bestScore >= 0
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// CallModels returns the latency model of each call of op's plan (indexed by
// Call.Index) under cfg. A call to a route the mocks do not know is an error.
func CallModels(op Op, cfg model.Config) ([]model.Latency, error) {
	if cfg == nil {
		cfg = model.Default()
	}
	calls := op.Plan.Calls()
	out := make([]model.Latency, len(calls))
	for _, c := range calls {
		// Any value will do for the placeholders: routes match by shape.
		path := refRE.ReplaceAllString(c.Spec.Path, "1")
		route, ok := model.MatchRoute(c.Spec.Backend, c.Spec.Method, path)
		if !ok {
			return nil, fmt.Errorf("limits of %s: call %q (%s %s on %s) hits no known backend route", op.ID, c.Spec.Name, c.Spec.Method, c.Spec.Path, c.Spec.Backend)
		}
		out[c.Index] = cfg.RouteLatency(c.Spec.Backend, route)
	}
	return out, nil
}

// Weighted is one kind of request of a workload and its share.
type Weighted struct {
	Op     Op
	Weight float64
}

// Compute simulates the workload (requests picked by weight) under cfg,
// drawing every call's latency from its model, and returns the percentiles
// of the three limits with their uncertainty. It simulates batches of n
// requests until the limits are known within Precision (see Limits), one
// request if every model is fixed. seed makes it reproducible.
func Compute(work []Weighted, cfg model.Config, n int, seed uint64) (dist.Limits, error) {
	if len(work) == 0 {
		return dist.Limits{}, fmt.Errorf("limits: no operation to simulate")
	}
	if n <= 0 {
		n = dist.DefaultSamples
	}
	models := make([][]model.Latency, len(work))
	hedges := make([][]hedge, len(work))
	var total float64
	fixed := true
	for i, w := range work {
		m, err := CallModels(w.Op, cfg)
		if err != nil {
			return dist.Limits{}, err
		}
		models[i] = m
		hedges[i] = hedgesOf(w.Op, m)
		total += w.Weight
		for _, l := range m {
			if !deterministic(l) {
				fixed = false
			}
		}
	}
	if fixed && len(work) == 1 {
		n = 1 // every sample would be the same
	}
	r := rand.New(rand.NewPCG(seed, 0x11a175))
	var cp, lv, sum []time.Duration
	var sample []time.Duration
	// Per batch, the p50 and p99 of each limit: their spread across
	// batches measures how well the pooled figures are known.
	var stats [6][]float64
	batches := 0
	for {
		from := len(cp)
		for range n {
			i := pick(r, work, total)
			m := models[i]
			sample = sample[:0]
			for k, l := range m {
				sample = append(sample, hedges[i][k].sample(l, r))
			}
			d := func(c fanout.Call) time.Duration { return sample[c.Index] }
			p := work[i].Op.Plan
			cp, lv, sum = append(cp, p.CriticalPath(d)), append(lv, p.LevelSum(d)), append(sum, p.Sum(d))
		}
		batches++
		if fixed && len(work) == 1 {
			break
		}
		for j, xs := range [][]time.Duration{cp[from:], lv[from:], sum[from:]} {
			b := slices.Sorted(slices.Values(xs))
			stats[2*j] = append(stats[2*j], float64(dist.Quantile(b, 0.5)))
			stats[2*j+1] = append(stats[2*j+1], float64(dist.Quantile(b, 0.99)))
		}
		if batches >= MaxBatches || (batches >= MinBatches && uncertainty(stats[:]) <= Precision) {
			break
		}
	}
	for _, xs := range [][]time.Duration{cp, lv, sum} {
		slices.Sort(xs)
	}
	l := dist.Limits{CriticalPath: dist.Of(cp), Levels: dist.Of(lv), Sum: dist.Of(sum), Fixed: fixed, Samples: len(cp)}
	if batches > 1 {
		l.Uncertainty = uncertainty(stats[:])
	}
	return l, nil
}

// uncertainty returns the widest relative half-width of the 95 % confidence
// intervals of the means of each series of batch estimates.
func uncertainty(series [][]float64) float64 {
	var worst float64
	for _, xs := range series {
		k := float64(len(xs))
		if k < 2 {
			return math.Inf(1)
		}
		var mean, ss float64
		for _, x := range xs {
			mean += x
		}
		mean /= k
		if mean == 0 {
			continue
		}
		for _, x := range xs {
			ss += (x - mean) * (x - mean)
		}
		se := math.Sqrt(ss/(k-1)) / math.Sqrt(k)
		worst = max(worst, 1.96*se/mean)
	}
	return worst
}

// hedge is how the limits model a hedged call (x-fanout hedge): a
// duplicate sent after the delay, up to max of them, each after the
// previous one, the first answer winning. The gateway's budget and its
// learning of the delay only make it hedge less than that, so the limit
// stays one that no gateway can beat: without it, a hedged run would seem
// to beat the critical path.
type hedge struct {
	after time.Duration
	max   int
}

// hedgesOf returns the hedge of each call of op (zero for a call without
// one), whose latency models are m: a learned delay is the model's own
// quantile, what the gateway learns in the long run.
func hedgesOf(op Op, m []model.Latency) []hedge {
	out := make([]hedge, len(m))
	for _, c := range op.Plan.Calls() {
		h, _ := c.Spec.Policies["hedge"].(*fanout.HedgeSpec)
		if h == nil {
			continue
		}
		after := h.After
		if h.Quantile > 0 {
			after = m[c.Index].Quantile(h.Quantile)
		}
		out[c.Index] = hedge{after: after, max: max(h.Max, 1)}
	}
	return out
}

// sample draws the latency of a call of model l: one draw, or for a hedged
// call the first answer of the original and its duplicates.
func (h hedge) sample(l model.Latency, r *rand.Rand) time.Duration {
	d := l.Sample(r)
	for k := 1; k <= h.max; k++ {
		d = min(d, time.Duration(k)*h.after+l.Sample(r))
	}
	return d
}

func deterministic(l model.Latency) bool {
	return (l.Kind == model.KindFixed || l.Kind == model.KindNone || l.Kind == "") && (l.Spike == nil || l.Spike.Probability == 0)
}

func pick(r *rand.Rand, work []Weighted, total float64) int {
	if len(work) == 1 {
		return 0
	}
	u := r.Float64() * total
	for i, w := range work {
		u -= w.Weight
		if u < 0 {
			return i
		}
	}
	return len(work) - 1
}
