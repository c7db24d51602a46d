package report

import (
	"fmt"
	"strings"

	"fanout/bench/result"
	"fanout/bench/scenario"
)

// policyColumns are the call policies' counters a run may hold, in the
// order the table shows them.
var policyColumns = []string{"hedges_sent", "hedges_won", "coalesced_calls", "cache_hits", "cache_misses"}

// writePolicies writes what the gateway's call policies did in each run
// (hedges, coalesced calls, cache), and the pages compared between runs,
// when any run has such figures.
func writePolicies(b *strings.Builder, s *result.Scenario) {
	any := false
	for _, r := range s.Runs {
		for _, c := range policyColumns {
			any = any || r.Policies[c] != 0
		}
		any = any || r.PagesCompared > 0 || r.PagesDiffering > 0
	}
	if !any {
		return
	}
	b.WriteString("## Call policies\n\n")
	b.WriteString("What the gateway's x-fanout policies did during each measured attack, from its /metrics: " +
		"hedged duplicates sent and those that answered first, calls answered by another request's identical call, and cache hits and misses. " +
		"Pages compared are the URLs whose bodies were compared with an earlier run at the same rate (load.compare_bodies); differing ones were not the same bytes.\n\n")
	b.WriteString("| mode | rate | requests | hedges sent | hedges won | coalesced | cache hits | cache misses | pages compared | pages differing |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(b, "| %s | %s | %d |", Label(r.Variant, r.Mode, r.PoolSize), scenario.FormatRate(r.Rate), r.Requests)
		for _, c := range policyColumns {
			fmt.Fprintf(b, " %.0f |", r.Policies[c])
		}
		fmt.Fprintf(b, " %d | %d |\n", r.PagesCompared, r.PagesDiffering)
	}
	b.WriteString("\n")
}
