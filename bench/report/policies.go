package report

import (
	"fmt"
	"strings"

	registry "fanout/bench/figure"
	"fanout/bench/load"
	"fanout/bench/result"
)

// policyFigures are the registry's figures of the call policies, in its
// order: the columns of the call policies table.
var policyFigures = func() []*registry.Figure {
	var out []*registry.Figure
	for i := range registry.All {
		if registry.All[i].Policy {
			out = append(out, &registry.All[i])
		}
	}
	return out
}()

// writePolicies writes what the gateway's call policies did in each run
// (hedges, coalesced calls, cache), and the pages compared between runs,
// when any run has such figures.
func writePolicies(b *strings.Builder, s *result.Scenario) {
	values := make([][]float64, len(s.Runs))
	any := false
	for i := range s.Runs {
		for _, f := range policyFigures {
			v, err := f.Get(registry.Source{Run: &s.Runs[i], Sum: s.Runs[i].Summary})
			if err != nil {
				v = 0 // a policy figure is a count of the run: it has no error
			}
			values[i] = append(values[i], v)
			any = any || v != 0
		}
	}
	if !any {
		return
	}
	b.WriteString("## Call policies\n\n")
	b.WriteString("What the gateway's x-fanout policies did during each measured attack, from its /metrics: " +
		"hedged duplicates sent and those that answered first, calls answered by another request's identical call, and cache hits and misses. " +
		"Pages compared are the URLs whose bodies were compared with an earlier run at the same rate (load.compare_bodies); differing ones were not the same bytes.\n\n")
	b.WriteString("| mode | rate | requests |")
	for _, f := range policyFigures {
		b.WriteString(" " + strings.ReplaceAll(f.Name, "_", " ") + " |")
	}
	b.WriteString("\n|---|---:|---:|" + strings.Repeat("---:|", len(policyFigures)) + "\n")
	for i, r := range s.Runs {
		fmt.Fprintf(b, "| %s | %s | %d |", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(r.Rate), r.Requests)
		for _, v := range values[i] {
			fmt.Fprintf(b, " %.0f |", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}
